#include "store/generation.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::store {
namespace {

constexpr std::size_t map_size = sizeof(std::uint64_t);

}  // namespace

std::unique_ptr<Generation> Generation::open(const std::string& store_path, bool create) noexcept {
    const std::string path = store_path + "-gen";
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
    if (create) flags |= O_CREAT;
    int fd = ::open(path.c_str(), flags, 0600);
    if (fd < 0) return nullptr;
    struct stat st {};
    // A fresh file is zero bytes long; extending it with ftruncate fills it with zeros, and two
    // processes doing so at once agree. The counter is never written through write(2).
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_size < static_cast<off_t>(map_size) && ::ftruncate(fd, map_size) != 0)) {
        ::close(fd);
        return nullptr;
    }
    void* map = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return nullptr;
    return std::unique_ptr<Generation>(new Generation(map));
}

Generation::~Generation() { ::munmap(map_, map_size); }

// The mapping is page aligned, so the counter is naturally aligned and lock-free atomics on it
// are atomic across processes too.
std::uint64_t Generation::load() const noexcept {
    return std::atomic_ref<std::uint64_t>(*static_cast<std::uint64_t*>(map_)).load(std::memory_order_acquire);
}

void Generation::bump() noexcept {
    std::atomic_ref<std::uint64_t>(*static_cast<std::uint64_t*>(map_)).fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace vpsmail::store
