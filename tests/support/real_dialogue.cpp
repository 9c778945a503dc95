#include "support/real_dialogue.hpp"

#include "auth/password.hpp"
#include "core/address.hpp"
#include "core/config.hpp"
#include "mailstore/maildir.hpp"
#include "queue/spool.hpp"
#include "server/server.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace vpsmail::test {
namespace {

namespace fs = std::filesystem;

class RealAdapter final : public DialogueAdapter {
public:
    RealAdapter() {
        config_.server.hostname = "mx.example.test";
        config_.server.user = "";
        config_.paths.state_dir = dir_.file("state");
        config_.paths.mail_root = dir_.file("mail");
        config_.paths.spool_dir = dir_.file("state/spool");
        fs::create_directories(config_.paths.state_dir);
        db_ = dir_.file("state/vpsmail.db");
        auto created = store::Store::open(db_);  // at the latest schema
    }

    Directive classify(const std::string& k) const override {
        if (k == "@listener" || k == "@peer" || k == "@loopback" || k == "@trusted" || k == "@max-size") return Directive::setting;
        if (k == "@store") return Directive::seed;
        if (k == "@maildir" || k == "@maildir-text" || k == "@spool") return Directive::check;
        return Directive::unknown;
    }

    void apply(const std::string& k, const std::vector<std::string>& args) override {
        auto arg = [&](std::size_t i) -> const std::string& {
            if (i >= args.size()) throw std::runtime_error(k + " needs more arguments");
            return args[i];
        };
        if (k == "@listener") {
            listener_ = arg(0);
            if (listener_ != "smtp" && listener_ != "submission" && listener_ != "submissions")
                throw std::runtime_error("@listener smtp|submission|submissions");
        } else if (k == "@peer") {
            address_ = arg(0);
        } else if (k == "@loopback") {
            address_ = "127.0.0.1";
            loopback_ = true;
        } else if (k == "@trusted") {
            config_.smtp.trusted_networks.push_back(arg(0));
        } else if (k == "@max-size") {
            config_.limits.max_message_size = std::stoull(arg(0));
        } else if (k == "@store") {
            seed(args);
        }
    }

    std::string check(const std::string& k, const std::string& text) override {
        auto args = words(text);
        if (k == "@spool") {
            if (args.size() != 1) throw std::runtime_error("@spool N");
            const std::size_t got = server().spool().list().size();
            if (got != std::stoul(args[0])) return "want " + args[0] + " spooled messages, got " + std::to_string(got);
            return "";
        }
        if (args.size() < 2) throw std::runtime_error(k + " ADDRESS ...");
        const Address a = parse_address(args[0]);
        const fs::path dir = fs::path(mailstore::maildir_path(config_.paths.mail_root, a.domain, a.local)) / "new";
        std::vector<fs::path> files;
        if (fs::is_directory(dir))
            for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
        if (k == "@maildir") {
            if (files.size() != std::stoul(args[1]))
                return "want " + args[1] + " messages in " + args[0] + "'s Maildir, got " + std::to_string(files.size());
            return "";
        }
        if (files.empty()) return "want a message in " + args[0] + "'s Maildir, it has none";
        // Unique names start with the delivery time: the newest sorts last.
        std::sort(files.begin(), files.end());
        std::ifstream in(files.back(), std::ios::binary);
        std::stringstream content;
        content << in.rdbuf();
        const std::string pattern = text.substr(text.find(args[0]) + args[0].size() + 1);
        const std::string got = visible(content.str());
        if (!glob_match(pattern, got)) return "want message '" + pattern + "', got '" + got + "'";
        return "";
    }

    std::unique_ptr<server::Conversation> open(int connection) override {
        server::Peer peer;
        peer.listener = listener_;
        peer.local = "192.0.2.25:25";
        peer.address = address_;
        peer.port = static_cast<std::uint16_t>(40000 + connection);
        peer.loopback = loopback_;
        peer.tls = listener_ == "submissions";
        peer.id = "S" + std::to_string(connection);
        return server().service(listener_).open(peer);
    }

private:
    server::Server& server() {
        if (!server_) server_ = std::make_unique<server::Server>(config_, db_);
        return *server_;
    }

    void seed(const std::vector<std::string>& args) {
        auto store = store::Store::open(db_);
        const std::string what = args.empty() ? "" : args[0];
        if (what == "domain" && args.size() == 2) {
            store->create_domain(args[1]);
        } else if (what == "user" && args.size() >= 2) {
            const Address a = parse_address(args[1]);
            store::NewUser u;
            u.local = a.local;
            u.domain = a.domain;
            u.password_hash = "$y$j9T$abc$def";  // matches no password
            for (std::size_t i = 2; i < args.size(); ++i) {
                if (args[i].starts_with("quota=")) u.quota = std::stoull(args[i].substr(6));
                else u.password_hash = auth::hash_password(args[i]);
            }
            store->create_user(u);
        } else if (what == "quota" && args.size() == 3) {
            const Address a = parse_address(args[1]);
            store->set_quota(a.local, a.domain, std::stoull(args[2]));
        } else if (what == "alias" && args.size() >= 3) {
            store->add_alias(args[1], std::vector<std::string>(args.begin() + 2, args.end()));
        } else if (what == "vuser" && args.size() == 3) {
            store->map_vuser(args[1], args[1].substr(args[1].rfind('@') + 1), args[2]);
        } else {
            throw std::runtime_error("@store domain D | user ADDRESS [PASSWORD] [quota=N] | quota ADDRESS N | alias NAME TARGET... | vuser KEY TARGET");
        }
    }

    TempDir dir_;
    Config config_;
    std::string db_;
    std::unique_ptr<server::Server> server_;
    std::string listener_ = "smtp";
    std::string address_ = "192.0.2.1";
    bool loopback_ = false;
};

}  // namespace

std::unique_ptr<DialogueAdapter> make_real_adapter() { return std::make_unique<RealAdapter>(); }

}  // namespace vpsmail::test
