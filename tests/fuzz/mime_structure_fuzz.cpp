// libFuzzer target: the MIME structure parser and what is built on it (docs/architecture.md
// section 12). Besides not crashing, the parse must be self-consistent: every range inside the
// message, children after their parent; the LF and CRLF forms of the same bytes give the same
// wire forms; the cache codec gives back what it was given; sections locate inside the file.
#include "mime/imap_form.hpp"
#include "mime/section.hpp"
#include "mime/structure.hpp"
#include "mime/structure_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void check_ranges(const vpsmail::mime::Structure& s) {
    check(!s.parts.empty() && s.parts[0].message_root);
    for (std::size_t i = 0; i < s.parts.size(); ++i) {
        const auto& p = s.parts[i];
        check(p.header_offset + p.header_length <= s.size);
        check(p.body_offset + p.body_length <= s.size);
        check(p.header_offset + p.header_length == p.body_offset);
        for (auto c : p.children) check(c > i && c < s.parts.size());
    }
    check(s.parts.size() <= vpsmail::mime::max_parts);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace mime = vpsmail::mime;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const mime::Structure s = mime::parse_structure(input);
    check_ranges(s);
    check(s.size == input.size() && s.crlf_size == mime::crlf_size(input));
    const std::string wire = mime::bodystructure(s);
    check(!wire.empty() && !mime::body(s).empty());

    const std::string crlf = mime::to_crlf(input);
    const mime::Structure t = mime::parse_structure(crlf);
    check(mime::bodystructure(t) == wire);
    check(t.parts[0].envelope == s.parts[0].envelope);

    check(mime::deserialize(mime::serialize(s)) == s);

    for (const char* spec : {"", "TEXT", "HEADER", "1", "1.MIME", "2.1", "1.HEADER.FIELDS (From Subject)", "1.1.1.TEXT"}) {
        const auto section = mime::parse_section(spec);
        if (const auto r = mime::locate(s, section)) check(r->offset + r->length <= input.size());
        (void)mime::section_bytes(s, section, input);
    }
    return 0;
}
