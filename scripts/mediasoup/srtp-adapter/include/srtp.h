/*
 * confd libsrtp adapter: the libsrtp "3.0-beta" API that mediasoup 3.16-3.19
 * uses, provided over Debian's libsrtp2 2.5 (package libsrtp2-dev).
 *
 * The worker does `#include <srtp.h>`; the build puts this directory first on
 * the include path, so it gets libsrtp2's declarations plus:
 *   - srtp_protect / srtp_protect_rtcp with size_t lengths, separate in and
 *     out buffers and an MKI index,
 *   - srtp_unprotect / srtp_unprotect_rtcp with size_t lengths and separate
 *     in and out buffers,
 *   - srtp_stream_remove (libsrtp2: srtp_remove_stream),
 *   - the error codes srtp_err_status_buffer_small and
 *     srtp_err_status_cryptex_err (values as in libsrtp 3).
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
 * MKI: protect passes the given MKI index to libsrtp2 (an index with no
 * master key gives srtp_err_status_bad_mki; sessions without MKI have one
 * master key, index 0). Unprotect, which has no MKI argument in 3.0, uses MKI
 * when the session's streams carry one.
 */
#ifndef CONFD_SRTP_ADAPTER_SRTP_H
#define CONFD_SRTP_ADAPTER_SRTP_H

#ifndef __cplusplus
#error "the confd libsrtp adapter (srtp-adapter/include/srtp.h) is C++ only"
#endif

#include <srtp2/srtp.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

#endif // CONFD_SRTP_ADAPTER_SRTP_H
