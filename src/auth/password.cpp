#include "auth/password.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <crypt.h>
#include <cstring>  // explicit_bzero
#include <memory>
#include <optional>

namespace vpsmail::auth {
namespace {

// Dovecot's password schemes that are plain crypt(3) hashes behind a label.
constexpr std::string_view crypt_schemes[] = {"{CRYPT}", "{BLF-CRYPT}", "{SHA512-CRYPT}", "{SHA256-CRYPT}",
                                              "{MD5-CRYPT}"};

// Costs beyond which one verification takes many seconds on a small VPS (bcrypt 12 takes
// about 0.3 s, SHA-crypt 100000 rounds about 0.07 s): such a hash is a mistake or an attack.
constexpr int max_bcrypt_cost = 16;
constexpr unsigned long max_sha_crypt_rounds = 5'000'000;

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x >= 'a' && x <= 'z') x = static_cast<unsigned char>(x - 'a' + 'A');
        if (y >= 'a' && y <= 'z') y = static_cast<unsigned char>(y - 'a' + 'A');
        if (x != y) return false;
    }
    return true;
}

// The hash without its Dovecot crypt-family prefix; nullopt for another {SCHEME} prefix.
std::optional<std::string_view> strip_scheme(std::string_view hash) noexcept {
    if (hash.empty() || hash.front() != '{') return hash;
    const std::size_t close = hash.find('}');
    if (close == std::string_view::npos) return std::nullopt;
    for (std::string_view scheme : crypt_schemes)
        if (iequals(hash.substr(0, close + 1), scheme)) return hash.substr(close + 1);
    return std::nullopt;
}

// Both strings are compared whole whatever their content, so the time taken tells an attacker
// nothing about how many leading bytes of a guess were right.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    volatile unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    return diff == 0;
}

// A NUL-terminated copy of a secret, wiped when it goes.
class Secret {
public:
    explicit Secret(std::string_view text) : text_(text) {}
    ~Secret() { explicit_bzero(text_.data(), text_.size()); }
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    const char* c_str() const noexcept { return text_.c_str(); }

private:
    std::string text_;
};

// struct crypt_data is 32 KiB: on the heap, never on a (coroutine or worker) stack. Zeroed on
// creation, as crypt_r requires, and wiped afterwards: it held the password's derivatives.
class CryptData {
public:
    CryptData() : data_(std::make_unique<crypt_data>()) {}
    ~CryptData() { explicit_bzero(data_.get(), sizeof(crypt_data)); }
    CryptData(const CryptData&) = delete;
    CryptData& operator=(const CryptData&) = delete;

    /// crypt_r's result, or nullptr on failure (libxcrypt returns "*0"/"*1", not NULL).
    const char* crypt(const char* phrase, const char* setting) noexcept {
        const char* out = crypt_r(phrase, setting, data_.get());
        return out == nullptr || out[0] == '*' ? nullptr : out;
    }

private:
    std::unique_ptr<crypt_data> data_;
};

bool has_nul(std::string_view text) noexcept { return text.find('\0') != std::string_view::npos; }

// What an error message may show of a hash: at most 20 characters, control bytes escaped.
std::string shown(std::string_view hash) {
    constexpr std::size_t max_shown = 20;
    std::string out;
    for (std::size_t i = 0; i < hash.size() && i < max_shown; ++i) {
        unsigned char c = static_cast<unsigned char>(hash[i]);
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);
    }
    if (hash.size() > max_shown) out += "...";
    return out;
}

// The length of the setting part (method, cost, salt) that crypt_r copies into its result.
std::size_t setting_length(std::string_view hash) noexcept {
    const std::size_t last = hash.rfind('$');
    if (last == std::string_view::npos) return std::min<std::size_t>(hash.size(), 2);  // traditional DES
    return last + 1;
}

constexpr std::string_view crypt_alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// The length of the checksum that follows the setting, for the methods admins import
// (crypt(5)); for DES and BSDi hashes, the length of the whole hash. nullopt: not known here.
std::optional<std::size_t> checksum_length(std::string_view hash) noexcept {
    struct Method {
        std::string_view prefix;
        std::size_t length;
    };
    static constexpr Method methods[] = {
        {"$y$", 43}, {"$gy$", 43}, {"$7$", 43}, {"$2b$", 53}, {"$2a$", 53}, {"$2y$", 53},
        {"$6$", 86}, {"$5$", 43},  {"$1$", 22}, {"$sha1$", 28},
    };
    for (const auto& m : methods)
        if (hash.starts_with(m.prefix)) return m.length;
    if (hash.starts_with('_')) return 20;  // BSDi extended DES: the whole hash
    if (!hash.starts_with('$')) return 13;  // traditional DES: the whole hash
    return std::nullopt;
}

// Why the cost of `hash` is refused, or empty.
std::string cost_problem(std::string_view hash) {
    if (hash.size() >= 7 && hash[0] == '$' && hash[1] == '2' && hash[3] == '$') {  // $2a$ $2b$ $2y$ $2x$
        int cost = 0;
        std::from_chars(hash.data() + 4, hash.data() + 6, cost);
        if (cost > max_bcrypt_cost) return fmt::format("its bcrypt cost {} is too high (at most {})", cost, max_bcrypt_cost);
    }
    constexpr std::string_view rounds = "rounds=";
    if (hash.size() > 3 + rounds.size() && (hash.substr(0, 3) == "$5$" || hash.substr(0, 3) == "$6$") &&
        hash.substr(3, rounds.size()) == rounds) {
        unsigned long n = 0;
        const char* begin = hash.data() + 3 + rounds.size();
        auto [end, ec] = std::from_chars(begin, hash.data() + hash.size(), n);
        if (ec == std::errc::result_out_of_range || (ec == std::errc{} && n > max_sha_crypt_rounds))
            return fmt::format("its {} are too many (at most {})", hash.substr(3, rounds.size() + (end - begin)),
                               max_sha_crypt_rounds);
    }
    return {};
}

}  // namespace

std::string hash_password(std::string_view password) {
    if (has_nul(password)) throw Error(ErrorKind::bad_data, "the password contains a NUL byte");
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting) == nullptr)
        throw Error(ErrorKind::internal, "cannot hash the password", errno_text("crypt_gensalt_rn($y$)", errno));
    Secret phrase(password);
    CryptData data;
    const char* out = data.crypt(phrase.c_str(), setting);
    if (out == nullptr) throw Error(ErrorKind::internal, "cannot hash the password", errno_text("crypt_r($y$)", errno));
    return out;
}

bool verify_password(std::string_view password, std::string_view hash) noexcept {
    try {
        const std::optional<std::string_view> h = strip_scheme(hash);
        if (!h || h->empty() || h->front() == '!' || h->front() == '*') return false;  // locked or no hash
        if (h->size() >= CRYPT_OUTPUT_SIZE || has_nul(*h) || has_nul(password)) return false;
        Secret phrase(password);
        const std::string setting(*h);
        CryptData data;
        const char* out = data.crypt(phrase.c_str(), setting.c_str());
        return out != nullptr && constant_time_equal(out, *h);
    } catch (...) {  // std::bad_alloc: a failed check is a refusal
        return false;
    }
}

std::string normalize_password_hash(std::string_view hash) {
    auto refuse = [hash](std::string_view why) {
        return Error(ErrorKind::bad_data,
                     fmt::format("invalid password hash '{}': {}; give a crypt(3) hash such as $y$..., $6$..., $2b$...",
                                 shown(hash), why));
    };
    if (hash.empty()) throw refuse("it is empty");
    for (char c : hash) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) throw refuse("it contains whitespace or control bytes");
    }
    const std::optional<std::string_view> stripped = strip_scheme(hash);
    if (!stripped) {
        const std::size_t close = hash.find('}');
        if (close == std::string_view::npos) throw refuse("it has an unclosed {SCHEME} prefix");
        throw refuse(fmt::format("the {} scheme is not a crypt(3) hash", hash.substr(0, close + 1)));
    }
    const std::string h(*stripped);
    if (h.empty()) throw refuse("nothing follows the scheme prefix");
    if (h.size() >= CRYPT_OUTPUT_SIZE) throw refuse("it is too long");
    if (h.front() == '!' || h.front() == '*') throw refuse("it is a locked or disabled hash");
    switch (crypt_checksalt(h.c_str())) {
    case CRYPT_SALT_OK:
    case CRYPT_SALT_METHOD_LEGACY:
        break;
    case CRYPT_SALT_METHOD_DISABLED:
        throw refuse("its method is disabled in this system's libxcrypt");
    default:
        throw refuse("libxcrypt does not know its method or format");
    }
    if (std::string problem = cost_problem(h); !problem.empty()) throw refuse(problem);
    // A full hash ends in a checksum of a length fixed by its method; a bare setting
    // ($y$j9T$salt) or a cut-off hash does not. Checked by shape: hashing a probe password
    // would cost a whole yescrypt run (~40 ms) for each `user add --password-hash`.
    if (auto want = checksum_length(h)) {
        const std::size_t start = h.front() == '$' ? setting_length(h) : 0;
        const std::string_view checksum = std::string_view(h).substr(start);
        if (checksum.size() != *want || checksum.find_first_not_of(crypt_alphabet) != std::string_view::npos)
            throw refuse("it is not a complete hash (a bare salt, cut off, or no hash at all)");
        return h;
    }
    // A method without a known checksum length: a full hash reproduces its own length and
    // setting when used as the setting.
    CryptData data;
    const char* out = data.crypt("vpsmail hash check", h.c_str());
    if (out == nullptr) throw refuse("libxcrypt cannot use it");
    const std::string_view result(out);
    const std::size_t setting = setting_length(h);
    if (result.size() != h.size() || result.substr(0, setting) != std::string_view(h).substr(0, setting))
        throw refuse("it is not a complete hash (a bare salt, cut off, or no hash at all)");
    return h;
}

bool hash_needs_upgrade(std::string_view hash) noexcept {
    try {
        const std::optional<std::string_view> h = strip_scheme(hash);
        if (!h || has_nul(*h)) return true;
        return crypt_checksalt(std::string(*h).c_str()) != CRYPT_SALT_OK;
    } catch (...) {
        return false;
    }
}

}  // namespace vpsmail::auth
