// A small streaming JSON writer for --json output: objects, arrays, strings, numbers, bools.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vpsmail::cli {

class JsonWriter {
public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view name);
    JsonWriter& value(std::string_view text);
    JsonWriter& value(const char* text) { return value(std::string_view(text)); }
    JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
    JsonWriter& value(std::int64_t number);
    JsonWriter& value(std::uint64_t number);
    JsonWriter& value(int number) { return value(static_cast<std::int64_t>(number)); }
    JsonWriter& value(bool flag);
    JsonWriter& null();
    /// key + value in one call.
    template <typename T>
    JsonWriter& field(std::string_view name, const T& v) { return key(name).value(v); }
    JsonWriter& field_strings(std::string_view name, const std::vector<std::string>& items);

    /// The document, with a final newline.
    std::string str() const { return out_ + "\n"; }

private:
    void separate();
    std::string out_;
    std::vector<bool> first_;  // per open container: nothing written in it yet
    bool after_key_ = false;
};

/// JSON string escaping (RFC 8259), without the surrounding quotes.
std::string json_escape(std::string_view text);

}  // namespace vpsmail::cli
