// The self-signed certificate made on first start when [tls] names none that exists, so that
// STARTTLS and port 465 work on a fresh machine (clients will warn until the admin installs a
// real certificate, e.g. from Let's Encrypt). OpenSSL only; no Asio here.
#include "net/serve.hpp"

#include "core/error.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace vpsmail::net {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const noexcept { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

[[noreturn]] void fail_openssl(const std::string& what) {
    throw Error(ErrorKind::internal, fmt::format("cannot create the TLS certificate: {}", what));
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// Writes `pem` to `path` through a temporary file and a rename: a crash leaves either no file
// or a complete one, never half a key.
void write_file(const std::string& path, const std::string& pem) {
    const std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int err = errno;
        throw Error(errno_kind(err), fmt::format("cannot write {}", path), errno_text(tmp, err));
    }
    std::size_t done = 0;
    while (done < pem.size()) {
        ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw Error(errno_kind(err), fmt::format("cannot write {}", path), errno_text(tmp, err));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw Error(errno_kind(err), fmt::format("cannot write {}", path), errno_text(path, err));
    }
}

std::string pem_of(const std::function<int(BIO*)>& write) {
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || write(bio.get()) != 1) fail_openssl("PEM encoding");
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

bool ensure_certificate(const std::string& cert_file, const std::string& key_file, const std::string& hostname) {
    if (exists(cert_file) && exists(key_file)) return false;

    Key key(EVP_RSA_gen(2048));
    if (!key) fail_openssl("RSA key generation");
    Cert cert(X509_new());
    if (!cert) fail_openssl("X509_new");
    X509_set_version(cert.get(), 2);  // v3, for subjectAltName
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) fail_openssl("random serial");
    serial[0] &= 0x7f;  // RFC 5280 4.1.2.2: a positive integer
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    if (bn == nullptr || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) == nullptr) {
        BN_free(bn);
        fail_openssl("serial number");
    }
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(hostname.c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    const std::string san = "DNS:" + hostname;
    Extension ext(X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str()));
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1) fail_openssl("subjectAltName " + san);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail_openssl("signing");

    const std::string key_pem = pem_of([&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    const std::string cert_pem = pem_of([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
    write_file(key_file, key_pem);
    write_file(cert_file, cert_pem);
    return true;
}

}  // namespace vpsmail::net
