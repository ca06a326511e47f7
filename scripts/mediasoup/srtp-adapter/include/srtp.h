/*
 * confd libsrtp adapter: the libsrtp 3 APIs mediasoup's worker uses, provided
 * over Debian's libsrtp2 2.5 (package libsrtp2-dev). Two API levels:
 *
 *   - libsrtp "3.0" (default; mediasoup 3.2x, checked with 3.27.1): the
 *     opaque policy API below plus everything of the "3.0-beta" level;
 *   - libsrtp "3.0-beta" (mediasoup 3.16-3.19): define
 *     CONFD_SRTP_ADAPTER_STRUCT_POLICY=1. srtp_policy_t is then libsrtp2's
 *     struct and srtp_create(srtp_t*, const srtp_policy_t*) libsrtp2's own.
 *     build-worker.sh picks the level from the worker sources (the libsrtp3
 *     shim's meson option confd_srtp_policy).
 *
 * The worker does `#include <srtp.h>`; the build puts this directory first on
 * the include path, so it gets libsrtp2's declarations plus:
 *   - srtp_protect / srtp_protect_rtcp with size_t lengths, separate in and
 *     out buffers and an MKI index,
 *   - srtp_unprotect / srtp_unprotect_rtcp with size_t lengths and separate
 *     in and out buffers,
 *   - srtp_stream_remove (libsrtp2: srtp_remove_stream),
 *   - the error codes srtp_err_status_buffer_small and
 *     srtp_err_status_cryptex_err (values as in libsrtp 3),
 *   - (3.0 level) an opaque srtp_policy_t with srtp_policy_create/_destroy/
 *     _set_ssrc/_set_profile/_add_key/_set_allow_repeat_tx/_set_window_size
 *     and srtp_create(srtp_t*, srtp_policy_t). libsrtp2's struct is renamed
 *     confd_srtp2_policy_t around its include, so the name is free.
 * The new functions are C++ overloads of the libsrtp2 C functions of the same
 * name (different parameter lists), so this header is C++ only.
 *
 * Bounds: libsrtp2 works in place and may write up to SRTP_MAX_TRAILER_LEN
 * (plus 4 bytes of SRTCP index for RTCP) past the packet. The adapter copies
 * the input into the output buffer and only calls libsrtp2 when the output
 * buffer can hold that worst case (protect) or the whole input (unprotect);
 * otherwise it returns srtp_err_status_buffer_small without touching memory.
 * Lengths that do not fit libsrtp2's int are refused with
 * srtp_err_status_bad_param. In and out may be the same buffer.
 *
 * Policy (3.0 level): as libsrtp 3's srtp_policy.c, every setter refuses a
 * null policy and invalid values with srtp_err_status_bad_param; in addition
 * srtp_policy_add_key checks the key and salt lengths against the profile
 * (when the profile is set; srtp_create checks again), since libsrtp2 reads
 * exactly the profile's key+salt length from the key buffer. The key and salt
 * are copied into the policy (wiped on destroy); libsrtp2 derives the session
 * keys in srtp_create, so the policy may be destroyed right after it, as the
 * worker does. MKI is not supported at this level (the worker passes none):
 * a non-empty MKI is refused.
 *
 * MKI (protect/unprotect): protect passes the given MKI index to libsrtp2 (an
 * index with no master key gives srtp_err_status_bad_mki; sessions without
 * MKI have one master key, index 0). Unprotect, which has no MKI argument in
 * 3.0, uses MKI when the session's streams carry one.
 */
#ifndef CONFD_SRTP_ADAPTER_SRTP_H
#define CONFD_SRTP_ADAPTER_SRTP_H

#ifndef __cplusplus
#error "the confd libsrtp adapter (srtp-adapter/include/srtp.h) is C++ only"
#endif

#ifndef CONFD_SRTP_ADAPTER_STRUCT_POLICY
#define CONFD_SRTP_ADAPTER_STRUCT_POLICY 0
#endif

#if !CONFD_SRTP_ADAPTER_STRUCT_POLICY
#ifdef SRTP_SRTP_H
#error "<srtp2/srtp.h> was included before the confd adapter: its srtp_policy_t cannot be renamed"
#endif
// libsrtp2's struct policy becomes confd_srtp2_policy_t (the C functions
// taking it keep their unmangled names, so linking is unaffected).
#define srtp_policy_t confd_srtp2_policy_t
#include <srtp2/srtp.h>
#undef srtp_policy_t
#else
#include <srtp2/srtp.h>
#endif

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

static_assert(
  srtp_err_status_pkt_idx_adv == 27,
  "unexpected libsrtp2 error code layout: check the new error codes below");

// Error codes added by libsrtp 3 (same numeric values as there). The enum's
// value range (0..31) covers them, so the conversion is well defined.
inline constexpr srtp_err_status_t srtp_err_status_buffer_small =
  static_cast<srtp_err_status_t>(28);
inline constexpr srtp_err_status_t srtp_err_status_cryptex_err =
  static_cast<srtp_err_status_t>(29);

namespace confd_srtp_adapter
{
	// SRTCP adds the 4 byte E-flag/index word on top of the SRTP trailer.
	inline constexpr size_t SrtcpIndexLen{ 4 };

	inline constexpr size_t MaxTrailerLen(bool rtcp)
	{
		return static_cast<size_t>(SRTP_MAX_TRAILER_LEN) + (rtcp ? SrtcpIndexLen : 0);
	}

	// Whether the session's streams use MKI: with MKI the protect trailer
	// grows by the MKI length.
	inline unsigned int SessionUsesMki(srtp_t ctx, bool rtcp)
	{
		uint32_t withMki{ 0 };
		uint32_t withoutMki{ 0 };
		srtp_err_status_t err1;
		srtp_err_status_t err2;

		if (rtcp)
		{
			err1 = srtp_get_protect_rtcp_trailer_length(ctx, 1u, 0u, &withMki);
			err2 = srtp_get_protect_rtcp_trailer_length(ctx, 0u, 0u, &withoutMki);
		}
		else
		{
			err1 = srtp_get_protect_trailer_length(ctx, 1u, 0u, &withMki);
			err2 = srtp_get_protect_trailer_length(ctx, 0u, 0u, &withoutMki);
		}

		if (err1 != srtp_err_status_ok || err2 != srtp_err_status_ok)
		{
			return 0u;
		}

		return withMki > withoutMki ? 1u : 0u;
	}

	inline srtp_err_status_t Protect(
	  bool rtcp, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen, size_t mkiIndex)
	{
		if (ctx == nullptr || in == nullptr || out == nullptr || outLen == nullptr || inLen == 0)
		{
			return srtp_err_status_bad_param;
		}

		const size_t maxTrailerLen = MaxTrailerLen(rtcp);

		if (inLen > static_cast<size_t>(INT_MAX) - maxTrailerLen)
		{
			return srtp_err_status_bad_param;
		}

		if (mkiIndex > static_cast<size_t>(UINT_MAX))
		{
			return srtp_err_status_bad_mki;
		}

		if (*outLen < inLen + maxTrailerLen)
		{
			return srtp_err_status_buffer_small;
		}

		if (out != in)
		{
			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const auto index = static_cast<unsigned int>(mkiIndex);
		const srtp_err_status_t err = rtcp ? srtp_protect_rtcp_mki(ctx, out, &len, 1u, index)
		                                   : srtp_protect_mki(ctx, out, &len, 1u, index);

		if (err != srtp_err_status_ok)
		{
			return err;
		}

		// libsrtp2 never grows a packet past the trailer bound checked above.
		if (len < 0 || static_cast<size_t>(len) > inLen + maxTrailerLen)
		{
			return srtp_err_status_fail;
		}

		*outLen = static_cast<size_t>(len);

		return srtp_err_status_ok;
	}

	inline srtp_err_status_t Unprotect(
	  bool rtcp, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen)
	{
		if (ctx == nullptr || in == nullptr || out == nullptr || outLen == nullptr || inLen == 0)
		{
			return srtp_err_status_bad_param;
		}

		if (inLen > static_cast<size_t>(INT_MAX))
		{
			return srtp_err_status_bad_param;
		}

		// libsrtp2 decrypts in place: the output buffer must hold the input.
		if (*outLen < inLen)
		{
			return srtp_err_status_buffer_small;
		}

		const unsigned int useMki = SessionUsesMki(ctx, rtcp);

		if (out != in)
		{
			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = rtcp ? srtp_unprotect_rtcp_mki(ctx, out, &len, useMki)
		                                   : srtp_unprotect_mki(ctx, out, &len, useMki);

		if (err != srtp_err_status_ok)
		{
			return err;
		}

		// Unprotect only shrinks the packet.
		if (len < 0 || static_cast<size_t>(len) > inLen)
		{
			return srtp_err_status_fail;
		}

		*outLen = static_cast<size_t>(len);

		return srtp_err_status_ok;
	}
} // namespace confd_srtp_adapter

inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtp_len, uint8_t* srtp, size_t* srtp_len, size_t mki_index)
{
	return confd_srtp_adapter::Protect(false, ctx, rtp, rtp_len, srtp, srtp_len, mki_index);
}

inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtp_len, uint8_t* rtp, size_t* rtp_len)
{
	return confd_srtp_adapter::Unprotect(false, ctx, srtp, srtp_len, rtp, rtp_len);
}

inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcp_len, uint8_t* srtcp, size_t* srtcp_len, size_t mki_index)
{
	return confd_srtp_adapter::Protect(true, ctx, rtcp, rtcp_len, srtcp, srtcp_len, mki_index);
}

inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcp_len, uint8_t* rtcp, size_t* rtcp_len)
{
	return confd_srtp_adapter::Unprotect(true, ctx, srtcp, srtcp_len, rtcp, rtcp_len);
}

// libsrtp 3 name of srtp_remove_stream (ssrc in network byte order).
inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return srtp_remove_stream(session, ssrc);
}

#if !CONFD_SRTP_ADAPTER_STRUCT_POLICY

// libsrtp 3.0 opaque policy.
struct confd_srtp_policy
{
	// libsrtp2's policy: crypto policies (from the profile), SSRC, window
	// size, allow_repeat_tx; key is pointed at keyAndSalt by srtp_create.
	confd_srtp2_policy_t policy;
	srtp_profile_t profile;
	bool hasKey;
	size_t keyLen;
	size_t saltLen;
	uint8_t keyAndSalt[SRTP_MAX_KEY_LEN];
};

typedef confd_srtp_policy* srtp_policy_t;

namespace confd_srtp_adapter
{
	inline void Wipe(void* p, size_t len)
	{
		volatile auto* bytes = static_cast<volatile uint8_t*>(p);

		for (size_t i = 0; i < len; ++i)
		{
			bytes[i] = 0;
		}
	}

	inline bool ValidSsrcType(srtp_ssrc_type_t type)
	{
		return type == ssrc_any_inbound || type == ssrc_any_outbound || type == ssrc_specific;
	}

	inline bool ValidWindowSize(size_t windowSize)
	{
		return windowSize == 0 || (windowSize >= 64 && windowSize < 0x8000);
	}

	// Key and salt lengths of the profile; false for unknown profiles.
	inline bool ProfileKeyLengths(srtp_profile_t profile, size_t* keyLen, size_t* saltLen)
	{
		const unsigned int k = srtp_profile_get_master_key_length(profile);
		const unsigned int s = srtp_profile_get_master_salt_length(profile);

		if (k == 0 || s == 0 || static_cast<size_t>(k) + s > SRTP_MAX_KEY_LEN)
		{
			return false;
		}

		*keyLen  = k;
		*saltLen = s;

		return true;
	}
} // namespace confd_srtp_adapter

inline srtp_err_status_t srtp_policy_create(srtp_policy_t* policy)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	auto* p = new (std::nothrow) confd_srtp_policy();

	if (p == nullptr)
	{
		*policy = nullptr;

		return srtp_err_status_alloc_fail;
	}

	// Value-initialised: no profile (srtp_profile_reserved), no SSRC type
	// (ssrc_undefined), no key, window size 0 (libsrtp's default), no repeat tx.
	*policy = p;

	return srtp_err_status_ok;
}

inline void srtp_policy_destroy(srtp_policy_t policy)
{
	if (policy == nullptr)
	{
		return;
	}

	confd_srtp_adapter::Wipe(policy->keyAndSalt, sizeof(policy->keyAndSalt));
	delete policy;
}

inline srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc)
{
	if (policy == nullptr || !confd_srtp_adapter::ValidSsrcType(ssrc.type))
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.ssrc = ssrc;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	size_t keyLen;
	size_t saltLen;

	if (profile == srtp_profile_reserved || !confd_srtp_adapter::ProfileKeyLengths(profile, &keyLen, &saltLen))
	{
		return srtp_err_status_bad_param;
	}

	// A key added before must fit the new profile.
	if (policy->hasKey && (policy->keyLen != keyLen || policy->saltLen != saltLen))
	{
		return srtp_err_status_bad_param;
	}

	srtp_crypto_policy_t rtp;
	srtp_crypto_policy_t rtcp;
	srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&rtp, profile);

	if (err != srtp_err_status_ok)
	{
		return err;
	}

	err = srtp_crypto_policy_set_from_profile_for_rtcp(&rtcp, profile);

	if (err != srtp_err_status_ok)
	{
		return err;
	}

	policy->policy.rtp  = rtp;
	policy->policy.rtcp = rtcp;
	policy->profile     = profile;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_add_key(
  srtp_policy_t policy,
  const uint8_t* key,
  size_t key_len,
  const uint8_t* salt,
  size_t salt_len,
  const uint8_t* mki,
  size_t mki_len)
{
	if (policy == nullptr || key == nullptr || salt == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	// No MKI at this level (libsrtp 3 needs srtp_policy_use_mki() first).
	if (mki != nullptr || mki_len != 0)
	{
		return srtp_err_status_bad_param;
	}

	// Without MKI a policy holds one master key.
	if (policy->hasKey)
	{
		return srtp_err_status_bad_param;
	}

	if (key_len == 0 || salt_len == 0 || key_len > SRTP_MAX_KEY_LEN || salt_len > SRTP_MAX_KEY_LEN - key_len)
	{
		return srtp_err_status_bad_param;
	}

	if (policy->profile != srtp_profile_reserved)
	{
		size_t keyLen;
		size_t saltLen;

		if (
		  !confd_srtp_adapter::ProfileKeyLengths(policy->profile, &keyLen, &saltLen) || key_len != keyLen ||
		  salt_len != saltLen)
		{
			return srtp_err_status_bad_param;
		}
	}

	std::memcpy(policy->keyAndSalt, key, key_len);
	std::memcpy(policy->keyAndSalt + key_len, salt, salt_len);
	policy->keyLen  = key_len;
	policy->saltLen = salt_len;
	policy->hasKey  = true;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.allow_repeat_tx = allow ? 1 : 0;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t window_size)
{
	if (policy == nullptr || !confd_srtp_adapter::ValidWindowSize(window_size))
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.window_size = static_cast<unsigned long>(window_size);

	return srtp_err_status_ok;
}

// libsrtp 3.0 srtp_create: validates the policy like libsrtp 3's
// srtp_policy_validate, then creates the session with libsrtp2.
inline srtp_err_status_t srtp_create(srtp_t* session, srtp_policy_t policy)
{
	if (session == nullptr || policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	size_t keyLen;
	size_t saltLen;

	if (
	  policy->profile == srtp_profile_reserved ||
	  !confd_srtp_adapter::ProfileKeyLengths(policy->profile, &keyLen, &saltLen) ||
	  !confd_srtp_adapter::ValidSsrcType(policy->policy.ssrc.type) || !policy->hasKey ||
	  policy->keyLen != keyLen || policy->saltLen != saltLen ||
	  !confd_srtp_adapter::ValidWindowSize(policy->policy.window_size))
	{
		return srtp_err_status_bad_param;
	}

	confd_srtp2_policy_t p = policy->policy;

	p.key             = policy->keyAndSalt;
	p.keys            = nullptr;
	p.num_master_keys = 0;
	p.next            = nullptr;

	return ::srtp_create(session, static_cast<const confd_srtp2_policy_t*>(&p));
}

#endif // !CONFD_SRTP_ADAPTER_STRUCT_POLICY

#endif // CONFD_SRTP_ADAPTER_SRTP_H
