#include "mailstore/message_name.hpp"

#include <catch2/catch.hpp>

using namespace vpsmail::mailstore;

TEST_CASE("message names carry UID, CRLF size and flags", "[mailstore][message_name]") {
    const std::string stem = format_indexed_name("1.M2P3Q4.host", 10, 12, 7);
    CHECK(stem == "1.M2P3Q4.host,S=10,W=12,VU=7");
    CHECK(find_uid(stem) == 7u);
    CHECK(find_crlf_size(stem) == 12u);
    CHECK(cur_name(stem, flag_seen | flag_answered | flag_flagged) == stem + ":2,FRS");
    CHECK(cur_name(stem, 0) == stem + ":2,");
    CHECK(format_flags(flag_draft | flag_forwarded | flag_deleted) == "DPT");
    CHECK(parse_flags(stem + ":2,SRFTDPx") == (flag_seen | flag_answered | flag_flagged | flag_deleted | flag_draft | flag_forwarded));
    CHECK(parse_flags(stem) == 0);
    CHECK(parse_flags(stem + ":1,S") == 0);  // experimental semantics: no flags
    CHECK(name_stem(stem + ":2,S") == stem);
    CHECK(with_uid(stem, 99) == "1.M2P3Q4.host,S=10,W=12,VU=99");
    CHECK(with_uid("1.M2P3Q4.host,VU=5,S=10", 6) == "1.M2P3Q4.host,VU=6,S=10");
    CHECK(with_uid("legacy", 3) == "legacy,VU=3");
    CHECK(!find_uid("legacy"));
    CHECK(!find_uid("x,VU=0"));
    CHECK(!find_uid("x,VU=4294967296"));
    CHECK(!find_uid("x,VU=1a"));
    CHECK(find_uid("x,VU=4294967295:2,S") == 4294967295u);
    CHECK(!find_uid("x:2,VU=3"));  // in the info, not a field
}
