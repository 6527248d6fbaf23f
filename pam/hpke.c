/* HPKE (RFC 9180), the one ciphersuite the spool uses, in base mode for one message: what
 * swift-crypto's HPKE.Sender(recipientKey:ciphersuite: .Curve25519_SHA256_ChachaPoly, info:)
 * seals, built from libsodium's X25519, HMAC-SHA256 and ChaCha20-Poly1305 (RFC 8439). */
#include <sodium.h>
#include <string.h>

#include "pam_authsignal.h"

static const uint8_t kem_suite[] = {'K', 'E', 'M', 0x00, 0x20};
static const uint8_t hpke_suite[] = {'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x03};
static const char version_label[] = "HPKE-v1";

/* LabeledExtract(salt, label, ikm) = HKDF-Extract(salt, "HPKE-v1" || suite || label || ikm). An
 * empty salt is HashLen zero bytes (RFC 5869). */
static void labeled_extract(const uint8_t *salt, size_t salt_count, const uint8_t *suite, size_t suite_count,
                            const char *label, const uint8_t *ikm, size_t ikm_count, uint8_t prk[32]) {
    static const uint8_t zeros[32];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, salt_count ? salt : zeros, salt_count ? salt_count : sizeof zeros);
    crypto_auth_hmacsha256_update(&state, (const uint8_t *)version_label, sizeof version_label - 1);
    crypto_auth_hmacsha256_update(&state, suite, suite_count);
    crypto_auth_hmacsha256_update(&state, (const uint8_t *)label, strlen(label));
    crypto_auth_hmacsha256_update(&state, ikm, ikm_count);
    crypto_auth_hmacsha256_final(&state, prk);
    sodium_memzero(&state, sizeof state);
}

/* LabeledExpand(prk, label, info, L) for L ≤ 32: HKDF-Expand's first block, T(1) =
 * HMAC(prk, I2OSP(L, 2) || "HPKE-v1" || suite || label || info || 0x01). */
static void labeled_expand(const uint8_t prk[32], const uint8_t *suite, size_t suite_count, const char *label,
                           const uint8_t *info, size_t info_count, size_t length, uint8_t *out) {
    uint8_t block[32];
    const uint8_t prefix[2] = {(uint8_t)(length >> 8), (uint8_t)length};
    const uint8_t counter = 1;
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, prk, 32);
    crypto_auth_hmacsha256_update(&state, prefix, sizeof prefix);
    crypto_auth_hmacsha256_update(&state, (const uint8_t *)version_label, sizeof version_label - 1);
    crypto_auth_hmacsha256_update(&state, suite, suite_count);
    crypto_auth_hmacsha256_update(&state, (const uint8_t *)label, strlen(label));
    crypto_auth_hmacsha256_update(&state, info, info_count);
    crypto_auth_hmacsha256_update(&state, &counter, 1);
    crypto_auth_hmacsha256_final(&state, block);
    memcpy(out, block, length);
    sodium_memzero(block, sizeof block);
    sodium_memzero(&state, sizeof state);
}

int hpke_seal(const uint8_t recipient[32], const uint8_t ephemeral[32], const uint8_t *info, size_t info_count,
              const uint8_t *plaintext, size_t count, uint8_t enc[32], uint8_t *sealed) {
    /* Encap (RFC 9180, 4.1): enc = pkE, shared_secret = ExtractAndExpand(DH(skE, pkR), enc || pkR). */
    uint8_t dh[32], prk[32], shared[32], context[64];
    crypto_scalarmult_base(enc, ephemeral);
    if (crypto_scalarmult(dh, ephemeral, recipient) != 0) return -1;
    memcpy(context, enc, 32);
    memcpy(context + 32, recipient, 32);
    labeled_extract(NULL, 0, kem_suite, sizeof kem_suite, "eae_prk", dh, sizeof dh, prk);
    labeled_expand(prk, kem_suite, sizeof kem_suite, "shared_secret", context, sizeof context, 32, shared);

    /* KeySchedule (5.1), mode_base, no PSK. */
    uint8_t schedule[65], secret[32], key[32], nonce[12];
    schedule[0] = 0x00;
    labeled_extract(NULL, 0, hpke_suite, sizeof hpke_suite, "psk_id_hash", NULL, 0, schedule + 1);
    labeled_extract(NULL, 0, hpke_suite, sizeof hpke_suite, "info_hash", info, info_count, schedule + 33);
    labeled_extract(shared, sizeof shared, hpke_suite, sizeof hpke_suite, "secret", NULL, 0, secret);
    labeled_expand(secret, hpke_suite, sizeof hpke_suite, "key", schedule, sizeof schedule, sizeof key, key);
    labeled_expand(secret, hpke_suite, sizeof hpke_suite, "base_nonce", schedule, sizeof schedule, sizeof nonce,
                   nonce);

    /* The first message's nonce is base_nonce itself (sequence number 0); no associated data. */
    unsigned long long sealed_count = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(sealed, &sealed_count, plaintext, count, NULL, 0, NULL, nonce, key);

    sodium_memzero(dh, sizeof dh);
    sodium_memzero(prk, sizeof prk);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(key, sizeof key);
    sodium_memzero(nonce, sizeof nonce);
    return 0;
}
