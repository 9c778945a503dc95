#include "store/string_table.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <new>
#include <stdexcept>
#include <sys/mman.h>
#include <utility>

namespace vpsmail::store {
namespace {

constexpr std::size_t huge_page = 2u << 20;
constexpr std::size_t small_page = 4096;
constexpr std::size_t header = 2 * sizeof(std::uint32_t);  // key length, value length

std::size_t round_up(std::size_t bytes) {
    const std::size_t unit = bytes >= huge_page ? huge_page : small_page;
    return (bytes + unit - 1) / unit * unit;
}

void advise(std::byte* data, std::size_t size) noexcept {
    // Advice only: without transparent huge pages the table works the same, a little slower.
    if (size >= huge_page) (void)::madvise(data, size, MADV_HUGEPAGE);
}

std::uint64_t hash_of(std::string_view key) noexcept { return std::hash<std::string_view>{}(key); }

std::uint32_t tag_of(std::uint64_t hash) noexcept { return static_cast<std::uint32_t>(hash >> 32) | 2u; }

}  // namespace

// --- HugeArray ---------------------------------------------------------------------------

HugeArray::HugeArray(std::size_t bytes) : size_(round_up(bytes)) {
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<std::byte*>(p);
    advise(data_, size_);
}

HugeArray::~HugeArray() {
    if (data_ != nullptr) ::munmap(data_, size_);
}

HugeArray::HugeArray(HugeArray&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

HugeArray& HugeArray::operator=(HugeArray&& other) noexcept {
    if (this != &other) {
        if (data_ != nullptr) ::munmap(data_, size_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void HugeArray::grow(std::size_t bytes, std::size_t keep) {
    if (bytes <= size_) return;
    HugeArray bigger(bytes);
    if (keep > 0) std::memcpy(bigger.data_, data_, keep);
    *this = std::move(bigger);
}

// --- StringTable -------------------------------------------------------------------------

StringTable::StringTable() = default;

std::string_view StringTable::key_at(std::uint32_t offset) const noexcept {
    const std::byte* entry = arena_.data() + offset;
    std::uint32_t key_length = 0;
    std::memcpy(&key_length, entry, sizeof key_length);
    return {reinterpret_cast<const char*>(entry + header), key_length};
}

std::string_view StringTable::value_at(std::uint32_t offset) const noexcept {
    const std::byte* entry = arena_.data() + offset;
    std::uint32_t lengths[2] = {};
    std::memcpy(lengths, entry, sizeof lengths);
    return {reinterpret_cast<const char*>(entry + header + lengths[0]), lengths[1]};
}

std::size_t StringTable::entry_size(std::uint32_t offset) const noexcept {
    std::uint32_t lengths[2] = {};
    std::memcpy(lengths, arena_.data() + offset, sizeof lengths);
    return header + lengths[0] + lengths[1];
}

std::size_t StringTable::locate(std::string_view key, std::uint64_t hash) const noexcept {
    if (capacity_ == 0) return 0;
    const std::size_t mask = capacity_ - 1;
    const std::uint32_t tag = tag_of(hash);
    const Slot* s = slots();
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        if (s[i].tag == empty) return capacity_;
        if (s[i].tag == tag && key_at(s[i].offset) == key) return i;
    }
}

std::uint32_t StringTable::append(std::string_view key, std::string_view value) {
    constexpr std::size_t limit = 0xffffffffu;
    const std::size_t size = header + key.size() + value.size();
    if (key.size() > limit || value.size() > limit || arena_end_ + size > limit)
        throw std::length_error("routing index: table over 4 GiB");
    if (arena_end_ + size > arena_.size()) arena_.grow(std::max(arena_.size() * 2, arena_end_ + size), arena_end_);
    std::byte* entry = arena_.data() + arena_end_;
    const std::uint32_t lengths[2] = {static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(value.size())};
    std::memcpy(entry, lengths, sizeof lengths);
    if (!key.empty()) std::memcpy(entry + header, key.data(), key.size());
    if (!value.empty()) std::memcpy(entry + header + key.size(), value.data(), value.size());
    const auto offset = static_cast<std::uint32_t>(arena_end_);
    arena_end_ += size;
    return offset;
}

void StringTable::rebuild(std::size_t capacity, bool compact) {
    HugeArray slots(capacity * sizeof(Slot));  // zero-filled: every slot empty
    Slot* fresh = reinterpret_cast<Slot*>(slots.data());
    HugeArray arena;
    std::size_t arena_end = 0;
    if (compact) arena = HugeArray(std::max<std::size_t>(arena_end_ - garbage_, 1));
    const std::size_t mask = capacity - 1;
    const Slot* old = this->slots();
    for (std::size_t i = 0; i < capacity_; ++i) {
        if (old[i].tag == empty || old[i].tag == deleted) continue;
        Slot slot = old[i];
        const std::uint64_t hash = hash_of(key_at(slot.offset));
        if (compact) {
            const std::size_t size = entry_size(slot.offset);
            std::memcpy(arena.data() + arena_end, arena_.data() + slot.offset, size);
            slot.offset = static_cast<std::uint32_t>(arena_end);
            arena_end += size;
        }
        std::size_t j = hash & mask;
        while (fresh[j].tag != empty) j = (j + 1) & mask;
        fresh[j] = slot;
    }
    slots_ = std::move(slots);
    capacity_ = capacity;
    used_ = size_;
    if (compact) {
        arena_ = std::move(arena);
        arena_end_ = arena_end;
        garbage_ = 0;
    }
}

void StringTable::reserve(std::size_t entries) {
    std::size_t capacity = 16;
    while (capacity < entries * 2) capacity *= 2;  // at most half full
    if (capacity > capacity_) rebuild(capacity, false);
}

void StringTable::put(std::string_view key, std::string_view value) {
    if ((used_ + 1) * 10 > capacity_ * 7) {  // live and deleted slots over 70%
        std::size_t capacity = std::max<std::size_t>(capacity_, 16);
        while ((size_ + 1) * 2 > capacity) capacity *= 2;
        rebuild(capacity, garbage_ > arena_end_ / 2);
    }
    const std::uint64_t hash = hash_of(key);
    std::size_t at = locate(key, hash);
    if (at != capacity_) {
        garbage_ += entry_size(slots()[at].offset);
        slots()[at].offset = append(key, value);
        compact_if_wasteful();
        return;
    }
    const std::uint32_t offset = append(key, value);
    const std::size_t mask = capacity_ - 1;
    std::size_t i = hash & mask;
    while (slots()[i].tag != empty && slots()[i].tag != deleted) i = (i + 1) & mask;
    if (slots()[i].tag == empty) ++used_;
    slots()[i] = Slot{tag_of(hash), offset};
    ++size_;
}

bool StringTable::erase(std::string_view key) {
    const std::size_t at = locate(key, hash_of(key));
    if (at == capacity_) return false;
    garbage_ += entry_size(slots()[at].offset);
    slots()[at].tag = deleted;
    --size_;
    compact_if_wasteful();
    return true;
}

void StringTable::compact_if_wasteful() {
    if (garbage_ > (1u << 20) && garbage_ > arena_end_ / 2) rebuild(capacity_, true);
}

std::optional<std::string_view> StringTable::find(std::string_view key) const noexcept {
    const std::size_t at = locate(key, hash_of(key));
    if (at == capacity_) return std::nullopt;
    return value_at(slots()[at].offset);
}

}  // namespace vpsmail::store
