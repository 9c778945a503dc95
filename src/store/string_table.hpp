// StringTable: a hash table from string keys to string values for the routing index's large
// tables (a million virtusertable entries). Open addressing with linear probing over 8-byte
// slots; every key and value lives in one arena, next to each other. A lookup therefore touches
// one slot and one arena entry, where std::unordered_map touches a bucket, a node, the key's and
// the value's heap blocks. Both arrays are mapped with transparent huge pages when the kernel
// offers them (madvise mode), so that a random lookup in hundreds of MB does not also pay a
// page-table walk. Not thread-safe; RoutingIndex guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vpsmail::store {

/// A growable array of trivially copyable T in anonymous memory, huge pages advised. Internal.
class HugeArray {
public:
    HugeArray() = default;
    ~HugeArray();
    HugeArray(const HugeArray&) = delete;
    HugeArray& operator=(const HugeArray&) = delete;
    HugeArray(HugeArray&& other) noexcept;
    HugeArray& operator=(HugeArray&& other) noexcept;

    /// Zero-filled; throws std::bad_alloc.
    explicit HugeArray(std::size_t bytes);
    /// Keeps the first `keep` bytes. Throws std::bad_alloc.
    void grow(std::size_t bytes, std::size_t keep);
    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

private:
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

class StringTable {
public:
    StringTable();

    /// Room for `entries` without rehashing.
    void reserve(std::size_t entries);
    /// Inserts or replaces. Throws std::bad_alloc, std::length_error (a key or value over
    /// 4 GiB, or an arena over 4 GiB).
    void put(std::string_view key, std::string_view value);
    /// Removes `key`; false when it was not there.
    bool erase(std::string_view key);
    /// The value of `key`, valid until the next put or erase.
    std::optional<std::string_view> find(std::string_view key) const noexcept;
    std::size_t size() const noexcept { return size_; }
    /// Bytes of the arena in use, dead entries included.
    std::size_t arena_bytes() const noexcept { return arena_end_; }

private:
    struct Slot {
        std::uint32_t tag;     ///< empty, deleted, or the hash's high bits with bit 1 set
        std::uint32_t offset;  ///< of the entry in the arena
    };
    static constexpr std::uint32_t empty = 0, deleted = 1;

    Slot* slots() const noexcept { return reinterpret_cast<Slot*>(slots_.data()); }
    std::string_view key_at(std::uint32_t offset) const noexcept;
    std::string_view value_at(std::uint32_t offset) const noexcept;
    std::size_t entry_size(std::uint32_t offset) const noexcept;
    /// The slot holding `key`, or the capacity when absent.
    std::size_t locate(std::string_view key, std::uint64_t hash) const noexcept;
    std::uint32_t append(std::string_view key, std::string_view value);
    /// Rebuilds with `capacity` slots (a power of two), dropping deleted slots and, with
    /// `compact`, the arena's dead entries.
    void rebuild(std::size_t capacity, bool compact);
    /// Rebuilds when replaced and erased entries are most of an arena over 1 MiB.
    void compact_if_wasteful();

    HugeArray slots_;
    HugeArray arena_;
    std::size_t capacity_ = 0;  ///< slots, a power of two
    std::size_t size_ = 0;      ///< live entries
    std::size_t used_ = 0;      ///< live and deleted slots
    std::size_t arena_end_ = 0;
    std::size_t garbage_ = 0;   ///< arena bytes of replaced or erased entries
};

}  // namespace vpsmail::store
