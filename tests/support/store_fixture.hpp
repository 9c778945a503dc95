// A real store in a temporary folder, seeded through the store API, and a resolve() that
// summarises a Resolution as one comparable line, for table-driven routing tests.
// Every resolve() also resolves through a RoutingIndex of the same file, kept open across the
// test (so it catches up with each change through the change log), and requires the two
// Resolutions to be identical, steps included: every routing test is also a test that the
// server's index answers exactly as route test does.
#pragma once

#include "route/resolver.hpp"
#include "store/index.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace vpsmail::test {

class StoreFixture {
public:
    StoreFixture() : store_(store::Store::open(dir_.file("vpsmail.db"))) {}

    store::Store& store() { return *store_; }
    TempDir& dir() { return dir_; }
    route::Options options;

    StoreFixture& domain(const std::string& d) {
        store_->create_domain(d);
        return *this;
    }
    StoreFixture& user(const std::string& local, const std::string& d, bool enabled = true) {
        store::NewUser u;
        u.local = local;
        u.domain = d;
        u.password_hash = "$y$j9T$abc$def";
        u.enabled = enabled;
        store_->create_user(u);
        return *this;
    }
    StoreFixture& alias(const std::string& name, std::vector<std::string> targets) {
        store_->add_alias(name, targets);
        return *this;
    }
    StoreFixture& vuser(const std::string& key, const std::string& target) {
        store_->map_vuser(key, key.substr(key.rfind('@') + 1), target);
        return *this;
    }
    StoreFixture& forward(const std::string& local, const std::string& d, std::vector<std::string> targets) {
        store_->set_forward(local, d, targets);
        return *this;
    }
    StoreFixture& catchall(const std::string& d, const std::string& target) {
        store_->set_catchall(d, target);
        return *this;
    }

    /// "mailbox:a@d mailbox:b@d+detail remote:x@y program:cmd file:/p | 550 5.1.1 target ..." sorted.
    std::string resolve(const std::string& address) {
        auto r = route::resolve(*store_, address, options);
        auto from_index = route::resolve(index(), address, options);
        INFO("resolving " << address << " through the routing index");
        REQUIRE(everything(from_index) == everything(r));
        std::vector<std::string> parts;
        for (const auto& t : r.targets) {
            std::string p = std::string(route::target_kind_name(t.kind)) + ":" + t.value;
            if (!t.detail.empty()) p += "+" + t.detail;
            parts.push_back(p);
        }
        std::sort(parts.begin(), parts.end());
        std::vector<std::string> failures;
        for (const auto& f : r.failures) failures.push_back(std::to_string(f.code) + " " + f.status + " " + f.target);
        std::sort(failures.begin(), failures.end());
        std::string out;
        for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
        if (!failures.empty()) {
            out += out.empty() ? "|" : " |";
            for (const auto& f : failures) out += " " + f;
        }
        return out;
    }

    /// Every field of a Resolution, in order, one line each.
    static std::string everything(const route::Resolution& r) {
        std::string out = r.address + " " + route::outcome_name(r.outcome) + "\n";
        for (const auto& t : r.targets) out += std::string("target ") + route::target_kind_name(t.kind) + " " + t.value + " " + t.detail + "\n";
        for (const auto& f : r.failures)
            out += "failure " + f.target + " " + std::to_string(f.code) + " " + f.status + " " + f.text + "\n";
        for (const auto& s : r.steps)
            out += "step " + s.stage + " " + s.key + " " + s.result + " " + (s.matched ? "1 " : "0 ") + std::to_string(s.depth) + "\n";
        for (const auto& l : r.loops) out += "loop " + l + "\n";
        return out;
    }

    store::RoutingIndex& index() {
        if (!index_) index_ = store::RoutingIndex::open(store_->path());
        return *index_;
    }

private:
    TempDir dir_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<store::RoutingIndex> index_;
};

}  // namespace vpsmail::test
