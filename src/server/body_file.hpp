// The text of a message too big for memory (docs/architecture.md section 9): a file in the spool's tmp/
// that the SMTP session fills through smtp::BodySink and deliver_message reads back, copies
// into Maildirs and links into the spool. Not durable itself (the copies are); removed when
// the last owner lets go, and after a crash by the spool's clean-up of stale tmp/ files.
#pragma once

#include "smtp/ports.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace vpsmail::server {

class BodyFile final : public smtp::BodySink {
public:
    /// Creates an empty "body.<unique name>" file, 0600, in `folder`. Throws Error(no_space)
    /// for ENOSPC/EDQUOT, else Error(temporary), naming the folder.
    explicit BodyFile(const std::string& folder);
    /// Closes and removes the file.
    ~BodyFile() override;
    BodyFile(const BodyFile&) = delete;
    BodyFile& operator=(const BodyFile&) = delete;

    /// Appends (buffered, written in 64 KiB pieces). Throws as the constructor does.
    void write(std::string_view bytes) override;

    /// Writes out what is buffered: then path() holds every byte. Throws as write() does.
    void flush();

    /// The file: everything written, once flush() returned.
    const std::string& path() const noexcept { return path_; }
    /// Bytes written so far.
    std::uint64_t size() const noexcept { return size_; }

    /// Calls `piece` with the text from the start, in order, in pieces of at most 64 KiB.
    /// Flushes first. Throws Error(temporary) when it cannot be read.
    void read(const std::function<void(std::string_view)>& piece);

    /// The whole text in memory, for the consumers that take a message whole.
    std::string text();

    /// fsync(2) of the file (before another name links it). Throws Error(temporary).
    void sync();

private:
    std::string path_;
    int fd_ = -1;
    std::string buffer_;
    std::uint64_t size_ = 0;
};

}  // namespace vpsmail::server
