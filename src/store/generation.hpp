// The store's write generation: a 64-bit counter in a small file beside the database
// (<store>-gen, mode 0600) that every committed write transaction increments after COMMIT.
// A long-lived reader (RoutingIndex) maps the file and compares one integer per lookup to learn
// whether anything was written, instead of taking SQLite's read lock, which costs system calls.
// Internal to src/store.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace vpsmail::store {

class Generation {
public:
    /// Maps `<store_path>-gen`, creating it (0600) when `create`. Returns nullptr when the file
    /// does not exist and may not be created, or cannot be opened or mapped: readers then ask
    /// SQLite instead, and writers have nothing to tell.
    static std::unique_ptr<Generation> open(const std::string& store_path, bool create) noexcept;
    ~Generation();
    Generation(const Generation&) = delete;
    Generation& operator=(const Generation&) = delete;

    /// The current value; changes after every committed write of any process.
    std::uint64_t load() const noexcept;
    /// Called after a write transaction committed.
    void bump() noexcept;

private:
    explicit Generation(void* map) noexcept : map_(map) {}
    void* map_;
};

}  // namespace vpsmail::store
