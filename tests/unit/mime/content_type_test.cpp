#include "mime/content_type.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace vpsmail;

namespace {

// "value;name=value;..." of a parsed header value.
std::string shown(std::string_view text) {
    mime::ContentValue v = mime::parse_content_value(text);
    std::string out = v.value;
    for (const auto& p : v.params) out += ";" + p.name + "=" + p.value;
    return out;
}

}  // namespace

TEST_CASE("parse_content_value reads the token and parameters", "[mime][content_type]") {
    struct Case {
        const char* text;
        const char* want;
    };
    const Case cases[] = {
        {"text/plain", "text/plain"},
        {"text/plain; charset=us-ascii", "text/plain;charset=us-ascii"},
        {"Text/HTML; CHARSET=\"UTF-8\"", "Text/HTML;charset=UTF-8"},
        {"multipart/mixed; boundary=\"a \\\"b\\\" c\"", "multipart/mixed;boundary=a \"b\" c"},
        {"multipart/mixed; boundary==_Part_1=", "multipart/mixed;boundary==_Part_1="},
        {"text/plain (a comment) ; (x) charset = utf-8 (y)", "text/plain;charset=utf-8"},
        {"attachment; filename=a.txt; size=10", "attachment;filename=a.txt;size=10"},
        {"text/plain; charset=a; CHARSET=b", "text/plain;charset=a"},      // first wins
        {"text/plain; junk; =x; charset=a", "text/plain;charset=a"},        // bad params skipped
        {"text/plain; name=\"unclosed", "text/plain;name=unclosed"},
        {"", ""},
        {"  ;charset=x", ";charset=x"},
        // RFC 2231 3: continuations, joined in index order.
        {"application/x; name*1=\"b c\"; name*0=a; name*2=d", "application/x;name=ab cd"},
        // RFC 2231 4: an extended value keeps its charset'language' form; plain pieces after an
        // extended first piece are %-encoded.
        {"attachment; filename*=utf-8''%E2%82%AC.txt", "attachment;filename*=utf-8''%E2%82%AC.txt"},
        {"attachment; filename*0*=utf-8'en'%E2%82%AC; filename*1=\" x.txt\"",
         "attachment;filename*=utf-8'en'%E2%82%AC%20x.txt"},
        {"attachment; filename=plain.txt; filename*=utf-8''x", "attachment;filename=plain.txt"},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        CHECK(shown(c.text) == c.want);
    }
}

TEST_CASE("find_param and split_media_type", "[mime][content_type]") {
    const auto v = mime::parse_content_value("multipart/Mixed; Boundary=xyz");
    REQUIRE(mime::find_param(v.params, "BOUNDARY") != nullptr);
    CHECK(*mime::find_param(v.params, "boundary") == "xyz");
    CHECK(mime::find_param(v.params, "charset") == nullptr);
    std::string t, s;
    CHECK(mime::split_media_type("multipart/Mixed", t, s));
    CHECK(t == "multipart");
    CHECK(s == "Mixed");
    for (const char* bad : {"text", "text/", "/plain", "te xt/plain", "text/pl/ain", "text/plain\xc3\xa9", ""}) {
        INFO(bad);
        CHECK_FALSE(mime::split_media_type(bad, t, s));
    }
}
