// Tests of the confd libsrtp adapter (include/srtp.h) against Debian's
// libsrtp2: build and run with run-test.sh, which builds it twice: at the
// libsrtp "3.0" level (opaque policy API, mediasoup 3.2x) and with
// CONFD_SRTP_ADAPTER_STRUCT_POLICY=1 at the "3.0-beta" level (struct policy,
// mediasoup 3.16-3.19). Sessions are created the way the worker of that level
// creates them (SrtpSession.cpp). Prints one line per check and a closing
// "N passed, N failed" line; exits non-zero on any failure.
#include "srtp.h" // the adapter (first on the include path)

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#if CONFD_SRTP_ADAPTER_STRUCT_POLICY
// libsrtp2's own struct policy, as libsrtp2 users (and 3.0-beta) spell it.
using Libsrtp2Policy = srtp_policy_t;
#define API_LEVEL "libsrtp 3.0-beta API (struct srtp_policy_t; mediasoup 3.16-3.19)"
#else
using Libsrtp2Policy = confd_srtp2_policy_t;
#define API_LEVEL "libsrtp 3.0 API (opaque srtp_policy_t; mediasoup 3.2x)"
#endif

namespace
{
	int passed = 0;
	int failed = 0;

	void Check(bool ok, const char* what)
	{
		std::printf("%s: %s\n", ok ? "ok" : "FAIL", what);
		(ok ? passed : failed)++;
	}

	void CheckErr(srtp_err_status_t got, srtp_err_status_t want, const char* what)
	{
		if (got != want)
		{
			std::printf("  (%s: got status %d, want %d)\n", what, static_cast<int>(got), static_cast<int>(want));
		}
		Check(got == want, what);
	}

	enum class Suite
	{
		AES_CM_128_HMAC_SHA1_80,
		AES_CM_128_HMAC_SHA1_32,
		AEAD_AES_128_GCM,
		AEAD_AES_256_GCM
	};

	srtp_profile_t ProfileOf(Suite suite)
	{
		switch (suite)
		{
			case Suite::AES_CM_128_HMAC_SHA1_80:
				return srtp_profile_aes128_cm_sha1_80;
			case Suite::AES_CM_128_HMAC_SHA1_32:
				return srtp_profile_aes128_cm_sha1_32;
			case Suite::AEAD_AES_128_GCM:
				return srtp_profile_aead_aes_128_gcm;
			case Suite::AEAD_AES_256_GCM:
				return srtp_profile_aead_aes_256_gcm;
		}
		return srtp_profile_reserved;
	}

	// 46 bytes: enough for every suite used here (AES-256 key + 12 byte salt).
	uint8_t key1[46];
	uint8_t key2[46];

	void SetSuite(Libsrtp2Policy& policy, Suite suite)
	{
		srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, ProfileOf(suite));
		srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, ProfileOf(suite));
	}

	// A session set up with libsrtp2's own struct API, bypassing the adapter's
	// policy code: the reference the adapter's sessions must interoperate with.
	srtp_t NewRawSession(bool outbound, Suite suite, const uint8_t* key = key1)
	{
		Libsrtp2Policy policy;
		std::memset(&policy, 0, sizeof(policy));
		SetSuite(policy, suite);
		policy.ssrc.type       = outbound ? ssrc_any_outbound : ssrc_any_inbound;
		policy.ssrc.value      = 0;
		policy.key             = const_cast<uint8_t*>(key);
		policy.allow_repeat_tx = 1;
		policy.window_size     = 1024;
		policy.next            = nullptr;

		srtp_t session{ nullptr };

		return ::srtp_create(&session, static_cast<const Libsrtp2Policy*>(&policy)) == srtp_err_status_ok ? session
		                                                                                                    : nullptr;
	}

#if CONFD_SRTP_ADAPTER_STRUCT_POLICY
	// A session configured the way mediasoup 3.16-3.19's SrtpSession does.
	srtp_t NewSession(
	  bool outbound,
	  Suite suite,
	  srtp_err_status_t* status = nullptr,
	  bool allowRepeatTx        = true,
	  size_t windowSize         = 1024)
	{
		srtp_policy_t policy;
		std::memset(&policy, 0, sizeof(policy));
		SetSuite(policy, suite);
		policy.ssrc.type       = outbound ? ssrc_any_outbound : ssrc_any_inbound;
		policy.ssrc.value      = 0;
		policy.key             = key1;
		policy.allow_repeat_tx = allowRepeatTx ? 1 : 0;
		policy.window_size     = windowSize;
		policy.next            = nullptr;

		srtp_t session{ nullptr };
		const srtp_err_status_t err = srtp_create(&session, &policy);

		if (status)
		{
			*status = err;
		}

		return err == srtp_err_status_ok ? session : nullptr;
	}
#else
	// A session configured the way mediasoup 3.27's SrtpSession does: policy
	// object, profile, key and salt split by the profile's lengths, repeat tx,
	// window 1024, srtp_create, then the policy destroyed at once.
	srtp_t NewSession(
	  bool outbound,
	  Suite suite,
	  srtp_err_status_t* status = nullptr,
	  bool allowRepeatTx        = true,
	  size_t windowSize         = 1024)
	{
		srtp_err_status_t err;
		srtp_policy_t policy{ nullptr };
		srtp_t session{ nullptr };
		const srtp_profile_t profile = ProfileOf(suite);
		const size_t masterKeyLen    = srtp_profile_get_master_key_length(profile);
		const size_t masterSaltLen   = srtp_profile_get_master_salt_length(profile);
		srtp_ssrc_t ssrc{};
		ssrc.type  = outbound ? ssrc_any_outbound : ssrc_any_inbound;
		ssrc.value = 0;

		// The key is handed over in a buffer that is overwritten right after
		// srtp_policy_add_key(): the session must not depend on it.
		std::vector<uint8_t> keyCopy(key1, key1 + masterKeyLen + masterSaltLen);

		if (
		  (err = srtp_policy_create(&policy)) == srtp_err_status_ok &&
		  (err = srtp_policy_set_ssrc(policy, ssrc)) == srtp_err_status_ok &&
		  (err = srtp_policy_set_profile(policy, profile)) == srtp_err_status_ok &&
		  (err = srtp_policy_add_key(
		     policy, keyCopy.data(), masterKeyLen, keyCopy.data() + masterKeyLen, masterSaltLen, nullptr, 0)) ==
		    srtp_err_status_ok &&
		  (err = srtp_policy_set_allow_repeat_tx(policy, allowRepeatTx)) == srtp_err_status_ok &&
		  (err = srtp_policy_set_window_size(policy, windowSize)) == srtp_err_status_ok)
		{
			std::memset(keyCopy.data(), 0xAB, keyCopy.size());
			err = srtp_create(&session, policy);
		}
		srtp_policy_destroy(policy);

		if (status)
		{
			*status = err;
		}

		return err == srtp_err_status_ok ? session : nullptr;
	}
#endif

#if CONFD_SRTP_ADAPTER_STRUCT_POLICY
	// A session with two master keys, selected by a 4 byte MKI.
	uint8_t mkiId0[4] = { 0xA0, 0xA1, 0xA2, 0xA3 };
	uint8_t mkiId1[4] = { 0xB0, 0xB1, 0xB2, 0xB3 };

	srtp_t NewMkiSession(bool outbound)
	{
		static srtp_master_key_t mk0{ key1, mkiId0, 4 };
		static srtp_master_key_t mk1{ key2, mkiId1, 4 };
		static srtp_master_key_t* keys[2] = { &mk0, &mk1 };

		srtp_policy_t policy;
		std::memset(&policy, 0, sizeof(policy));
		SetSuite(policy, Suite::AES_CM_128_HMAC_SHA1_80);
		policy.ssrc.type       = outbound ? ssrc_any_outbound : ssrc_any_inbound;
		policy.keys            = keys;
		policy.num_master_keys = 2;
		policy.window_size     = 1024;

		srtp_t session{ nullptr };

		return srtp_create(&session, &policy) == srtp_err_status_ok ? session : nullptr;
	}
#endif

	std::vector<uint8_t> RtpPacket(uint16_t seq, size_t payloadLen)
	{
		std::vector<uint8_t> p(12 + payloadLen);
		p[0]             = 0x80;
		p[1]             = 111; // payload type
		p[2]             = static_cast<uint8_t>(seq >> 8);
		p[3]             = static_cast<uint8_t>(seq);
		const uint32_t ts = htonl(1234567u + seq * 960u);
		const uint32_t ss = htonl(0x11223344u);
		std::memcpy(&p[4], &ts, 4);
		std::memcpy(&p[8], &ss, 4);
		for (size_t i = 0; i < payloadLen; ++i)
		{
			p[12 + i] = static_cast<uint8_t>(i * 7 + seq);
		}
		return p;
	}

	// RTCP Sender Report, no report blocks (28 bytes).
	std::vector<uint8_t> RtcpPacket()
	{
		std::vector<uint8_t> p(28, 0);
		p[0]              = 0x80;
		p[1]              = 200;
		p[3]              = 6; // length in 32 bit words minus one
		const uint32_t ss = htonl(0x11223344u);
		std::memcpy(&p[4], &ss, 4);
		for (size_t i = 8; i < p.size(); ++i)
		{
			p[i] = static_cast<uint8_t>(i * 13);
		}
		return p;
	}

	void TestSuiteRoundTrip(Suite suite, const char* name)
	{
		char what[200];
		srtp_err_status_t createErr;
		srtp_t tx = NewSession(true, suite, &createErr);
		srtp_t rx = NewSession(false, suite);

		std::snprintf(what, sizeof(what), "%s: srtp_create", name);
		CheckErr(createErr, srtp_err_status_ok, what);
		if (!tx || !rx)
		{
			return;
		}

		// RTP, separate buffers.
		const auto rtp = RtpPacket(1, 160);
		const auto rtpCopy = rtp;
		std::vector<uint8_t> enc(rtp.size() + SRTP_MAX_TRAILER_LEN);
		size_t encLen = enc.size();
		std::snprintf(what, sizeof(what), "%s: RTP protect into a separate buffer", name);
		CheckErr(srtp_protect(tx, rtp.data(), rtp.size(), enc.data(), &encLen, 0), srtp_err_status_ok, what);
		std::snprintf(what, sizeof(what), "%s: RTP protect leaves the input untouched, adds a trailer", name);
		Check(rtp == rtpCopy && encLen > rtp.size() && encLen <= rtp.size() + SRTP_MAX_TRAILER_LEN, what);
		std::snprintf(what, sizeof(what), "%s: RTP payload is encrypted", name);
		Check(std::memcmp(enc.data() + 12, rtp.data() + 12, rtp.size() - 12) != 0, what);

		std::vector<uint8_t> dec(encLen);
		size_t decLen = dec.size();
		std::snprintf(what, sizeof(what), "%s: RTP unprotect into a separate buffer", name);
		CheckErr(srtp_unprotect(rx, enc.data(), encLen, dec.data(), &decLen), srtp_err_status_ok, what);
		std::snprintf(what, sizeof(what), "%s: RTP round trip gives the original packet", name);
		Check(decLen == rtp.size() && std::memcmp(dec.data(), rtp.data(), decLen) == 0, what);

		// RTP, in place (how the worker decrypts).
		const auto rtp2 = RtpPacket(2, 50);
		std::vector<uint8_t> buf(rtp2.size() + SRTP_MAX_TRAILER_LEN);
		std::memcpy(buf.data(), rtp2.data(), rtp2.size());
		size_t len = buf.size();
		std::snprintf(what, sizeof(what), "%s: RTP protect in place", name);
		CheckErr(srtp_protect(tx, buf.data(), rtp2.size(), buf.data(), &len, 0), srtp_err_status_ok, what);
		size_t len2 = len;
		std::snprintf(what, sizeof(what), "%s: RTP unprotect in place", name);
		CheckErr(srtp_unprotect(rx, buf.data(), len, buf.data(), &len2), srtp_err_status_ok, what);
		std::snprintf(what, sizeof(what), "%s: RTP in-place round trip", name);
		Check(len2 == rtp2.size() && std::memcmp(buf.data(), rtp2.data(), len2) == 0, what);

		// Replay of an already accepted packet.
		std::vector<uint8_t> again(enc.begin(), enc.begin() + static_cast<long>(encLen));
		size_t againLen = again.size();
		std::snprintf(what, sizeof(what), "%s: RTP replay refused", name);
		CheckErr(
		  srtp_unprotect(rx, again.data(), again.size(), again.data(), &againLen), srtp_err_status_replay_fail, what);

		// Tampering with the payload and with the tag.
		const auto rtp3 = RtpPacket(3, 100);
		std::vector<uint8_t> enc3(rtp3.size() + SRTP_MAX_TRAILER_LEN);
		size_t enc3Len = enc3.size();
		srtp_protect(tx, rtp3.data(), rtp3.size(), enc3.data(), &enc3Len, 0);
		for (int where = 0; where < 2; ++where)
		{
			std::vector<uint8_t> t(enc3.begin(), enc3.begin() + static_cast<long>(enc3Len));
			t[where == 0 ? 20 : t.size() - 1] ^= 0x01;
			size_t tLen = t.size();
			std::snprintf(
			  what, sizeof(what), "%s: RTP tampered %s detected", name, where == 0 ? "payload" : "tag");
			CheckErr(srtp_unprotect(rx, t.data(), t.size(), t.data(), &tLen), srtp_err_status_auth_fail, what);
		}
		std::vector<uint8_t> good3(enc3.begin(), enc3.begin() + static_cast<long>(enc3Len));
		size_t good3Len = good3.size();
		std::snprintf(what, sizeof(what), "%s: RTP untampered packet still accepted after failures", name);
		CheckErr(
		  srtp_unprotect(rx, good3.data(), good3.size(), good3.data(), &good3Len), srtp_err_status_ok, what);

		// RTCP.
		const auto rtcp = RtcpPacket();
		std::vector<uint8_t> srtcp(rtcp.size() + SRTP_MAX_TRAILER_LEN + 4);
		size_t srtcpLen = srtcp.size();
		std::snprintf(what, sizeof(what), "%s: RTCP protect", name);
		CheckErr(
		  srtp_protect_rtcp(tx, rtcp.data(), rtcp.size(), srtcp.data(), &srtcpLen, 0), srtp_err_status_ok, what);
		std::snprintf(what, sizeof(what), "%s: RTCP protect adds index and tag", name);
		Check(srtcpLen >= rtcp.size() + 4 + 10 && srtcpLen <= srtcp.size(), what);
		std::vector<uint8_t> tampered(srtcp.begin(), srtcp.begin() + static_cast<long>(srtcpLen));
		tampered[10] ^= 0x80;
		size_t tamperedLen = tampered.size();
		std::snprintf(what, sizeof(what), "%s: RTCP tampered packet detected", name);
		CheckErr(
		  srtp_unprotect_rtcp(rx, tampered.data(), tampered.size(), tampered.data(), &tamperedLen),
		  srtp_err_status_auth_fail,
		  what);
		std::vector<uint8_t> rtcpOut(srtcpLen);
		size_t rtcpOutLen = rtcpOut.size();
		std::snprintf(what, sizeof(what), "%s: RTCP unprotect", name);
		CheckErr(
		  srtp_unprotect_rtcp(rx, srtcp.data(), srtcpLen, rtcpOut.data(), &rtcpOutLen), srtp_err_status_ok, what);
		std::snprintf(what, sizeof(what), "%s: RTCP round trip gives the original packet", name);
		Check(rtcpOutLen == rtcp.size() && std::memcmp(rtcpOut.data(), rtcp.data(), rtcpOutLen) == 0, what);

		srtp_dealloc(tx);
		srtp_dealloc(rx);
	}

	// The adapter's wire format is plain libsrtp2's: a peer set up with the
	// libsrtp2 struct API and using its in-place, int-length calls accepts
	// what the adapter protects and the other way round, for every suite.
	void TestInterop(Suite suite, const char* name)
	{
		char what[200];
		srtp_t tx  = NewSession(true, suite);
		srtp_t rx  = NewRawSession(false, suite);
		srtp_t tx2 = NewRawSession(true, suite);
		srtp_t rx2 = NewSession(false, suite);
		std::snprintf(what, sizeof(what), "%s: interop sessions created", name);
		Check(tx && rx && tx2 && rx2, what);
		if (!tx || !rx || !tx2 || !rx2)
		{
			return;
		}
		const auto rtp = RtpPacket(10, 80);

		std::vector<uint8_t> enc(rtp.size() + SRTP_MAX_TRAILER_LEN);
		size_t encLen = enc.size();
		srtp_protect(tx, rtp.data(), rtp.size(), enc.data(), &encLen, 0);
		int rawLen = static_cast<int>(encLen);
		const srtp_err_status_t e1 = srtp_unprotect(rx, static_cast<void*>(enc.data()), &rawLen);
		std::snprintf(what, sizeof(what), "%s: interop: adapter protect -> libsrtp2 srtp_unprotect", name);
		Check(
		  e1 == srtp_err_status_ok && rawLen == static_cast<int>(rtp.size()) &&
		    std::memcmp(enc.data(), rtp.data(), rtp.size()) == 0,
		  what);

		std::vector<uint8_t> buf(rtp.size() + SRTP_MAX_TRAILER_LEN);
		std::memcpy(buf.data(), rtp.data(), rtp.size());
		int protLen = static_cast<int>(rtp.size());
		srtp_protect(tx2, static_cast<void*>(buf.data()), &protLen);
		std::vector<uint8_t> out(static_cast<size_t>(protLen));
		size_t outLen = out.size();
		const srtp_err_status_t e2 = srtp_unprotect(rx2, buf.data(), static_cast<size_t>(protLen), out.data(), &outLen);
		std::snprintf(what, sizeof(what), "%s: interop: libsrtp2 srtp_protect -> adapter unprotect", name);
		Check(
		  e2 == srtp_err_status_ok && outLen == rtp.size() && std::memcmp(out.data(), rtp.data(), outLen) == 0, what);

		// RTCP both ways.
		const auto rtcp = RtcpPacket();
		std::vector<uint8_t> srtcp(rtcp.size() + SRTP_MAX_TRAILER_LEN + 4);
		size_t srtcpLen = srtcp.size();
		srtp_protect_rtcp(tx, rtcp.data(), rtcp.size(), srtcp.data(), &srtcpLen, 0);
		int rawRtcpLen = static_cast<int>(srtcpLen);
		const srtp_err_status_t e3 = srtp_unprotect_rtcp(rx, static_cast<void*>(srtcp.data()), &rawRtcpLen);
		std::snprintf(what, sizeof(what), "%s: interop: adapter protect_rtcp -> libsrtp2 srtp_unprotect_rtcp", name);
		Check(
		  e3 == srtp_err_status_ok && rawRtcpLen == static_cast<int>(rtcp.size()) &&
		    std::memcmp(srtcp.data(), rtcp.data(), rtcp.size()) == 0,
		  what);
		std::vector<uint8_t> rbuf(rtcp.size() + SRTP_MAX_TRAILER_LEN + 4);
		std::memcpy(rbuf.data(), rtcp.data(), rtcp.size());
		int rprotLen = static_cast<int>(rtcp.size());
		srtp_protect_rtcp(tx2, static_cast<void*>(rbuf.data()), &rprotLen);
		size_t rOutLen = rbuf.size();
		const srtp_err_status_t e4 =
		  srtp_unprotect_rtcp(rx2, rbuf.data(), static_cast<size_t>(rprotLen), rbuf.data(), &rOutLen);
		std::snprintf(what, sizeof(what), "%s: interop: libsrtp2 srtp_protect_rtcp -> adapter unprotect_rtcp", name);
		Check(
		  e4 == srtp_err_status_ok && rOutLen == rtcp.size() && std::memcmp(rbuf.data(), rtcp.data(), rOutLen) == 0,
		  what);

		srtp_dealloc(tx);
		srtp_dealloc(rx);
		srtp_dealloc(tx2);
		srtp_dealloc(rx2);
	}

	void TestBufferTooSmall()
	{
		srtp_t tx = NewSession(true, Suite::AES_CM_128_HMAC_SHA1_80);
		srtp_t rx = NewSession(false, Suite::AES_CM_128_HMAC_SHA1_80);
		const auto rtp = RtpPacket(20, 100);

		// The output buffer is followed by guard bytes that must stay intact.
		const size_t cap = rtp.size() + SRTP_MAX_TRAILER_LEN - 1;
		std::vector<uint8_t> out(cap + 64, 0xEE);
		size_t outLen = cap;
		CheckErr(
		  srtp_protect(tx, rtp.data(), rtp.size(), out.data(), &outLen, 0),
		  srtp_err_status_buffer_small,
		  "RTP protect refuses an output buffer smaller than packet + SRTP_MAX_TRAILER_LEN");
		bool untouched = outLen == cap;
		for (auto b : out)
		{
			untouched = untouched && b == 0xEE;
		}
		Check(untouched, "refused protect wrote nothing and kept *srtp_len");

		const auto rtcp = RtcpPacket();
		std::vector<uint8_t> rtcpOut(rtcp.size() + SRTP_MAX_TRAILER_LEN); // 4 bytes short
		size_t rtcpOutLen = rtcpOut.size();
		CheckErr(
		  srtp_protect_rtcp(tx, rtcp.data(), rtcp.size(), rtcpOut.data(), &rtcpOutLen, 0),
		  srtp_err_status_buffer_small,
		  "RTCP protect refuses a buffer without room for the SRTCP index");

		std::vector<uint8_t> enc(rtp.size() + SRTP_MAX_TRAILER_LEN);
		size_t encLen = enc.size();
		srtp_protect(tx, rtp.data(), rtp.size(), enc.data(), &encLen, 0);
		std::vector<uint8_t> small(encLen - 1, 0xEE);
		size_t smallLen = small.size();
		CheckErr(
		  srtp_unprotect(rx, enc.data(), encLen, small.data(), &smallLen),
		  srtp_err_status_buffer_small,
		  "RTP unprotect refuses an output buffer smaller than the input");
		size_t okLen = encLen;
		CheckErr(
		  srtp_unprotect(rx, enc.data(), encLen, enc.data(), &okLen),
		  srtp_err_status_ok,
		  "the refused packet still unprotects with a big enough buffer");

		// Lengths libsrtp2 cannot represent are refused before any access.
		size_t hugeOut = SIZE_MAX;
		CheckErr(
		  srtp_protect(tx, rtp.data(), static_cast<size_t>(INT_MAX), out.data(), &hugeOut, 0),
		  srtp_err_status_bad_param,
		  "RTP protect refuses a length over INT_MAX - trailer");
		size_t hugeOut2 = SIZE_MAX;
		CheckErr(
		  srtp_unprotect(rx, enc.data(), static_cast<size_t>(INT_MAX) + 1, enc.data(), &hugeOut2),
		  srtp_err_status_bad_param,
		  "RTP unprotect refuses a length over INT_MAX");
		size_t zero = 0;
		CheckErr(
		  srtp_protect(tx, nullptr, 10, out.data(), &zero, 0), srtp_err_status_bad_param, "null input refused");

		srtp_dealloc(tx);
		srtp_dealloc(rx);
	}

	void TestMki()
	{
		srtp_t plain = NewSession(true, Suite::AES_CM_128_HMAC_SHA1_80);
		const auto rtp = RtpPacket(30, 60);
		std::vector<uint8_t> out(rtp.size() + SRTP_MAX_TRAILER_LEN);
		size_t outLen = out.size();
		CheckErr(
		  srtp_protect(plain, rtp.data(), rtp.size(), out.data(), &outLen, 1),
		  srtp_err_status_bad_mki,
		  "bad MKI: index 1 on a session without MKI");
		outLen = out.size();
		CheckErr(
		  srtp_protect_rtcp(plain, RtcpPacket().data(), 28, out.data(), &outLen, 7),
		  srtp_err_status_bad_mki,
		  "bad MKI: RTCP index 7 on a session without MKI");
		srtp_dealloc(plain);

#if CONFD_SRTP_ADAPTER_STRUCT_POLICY
		srtp_t tx = NewMkiSession(true);
		srtp_t rx = NewMkiSession(false);
		Check(tx != nullptr && rx != nullptr, "MKI sessions created");
		if (!tx || !rx)
		{
			return;
		}
		outLen = out.size();
		CheckErr(
		  srtp_protect(tx, rtp.data(), rtp.size(), out.data(), &outLen, 2),
		  srtp_err_status_bad_mki,
		  "bad MKI: index 2 with two master keys");

		outLen = out.size();
		CheckErr(
		  srtp_protect(tx, rtp.data(), rtp.size(), out.data(), &outLen, 1), srtp_err_status_ok, "MKI index 1 protect");
		Check(
		  outLen == rtp.size() + 4 + 10 && std::memcmp(out.data() + rtp.size(), mkiId1, 4) == 0,
		  "MKI index 1 is carried in the packet");

		std::vector<uint8_t> badMki(out.begin(), out.begin() + static_cast<long>(outLen));
		badMki[rtp.size()] ^= 0xFF;
		size_t badLen = badMki.size();
		CheckErr(
		  srtp_unprotect(rx, badMki.data(), badMki.size(), badMki.data(), &badLen),
		  srtp_err_status_bad_mki,
		  "bad MKI: unknown MKI in a received packet");

		std::vector<uint8_t> dec(outLen);
		size_t decLen = dec.size();
		CheckErr(srtp_unprotect(rx, out.data(), outLen, dec.data(), &decLen), srtp_err_status_ok, "MKI unprotect");
		Check(
		  decLen == rtp.size() && std::memcmp(dec.data(), rtp.data(), decLen) == 0, "MKI round trip (key 1)");

		srtp_dealloc(tx);
		srtp_dealloc(rx);
#endif
	}

	void TestErrorCodesAndRemove()
	{
		Check(static_cast<int>(srtp_err_status_buffer_small) == 28, "srtp_err_status_buffer_small == 28");
		Check(static_cast<int>(srtp_err_status_cryptex_err) == 29, "srtp_err_status_cryptex_err == 29");
		Check(
		  srtp_err_status_buffer_small != srtp_err_status_pkt_idx_adv &&
		    srtp_err_status_cryptex_err != srtp_err_status_buffer_small,
		  "new error codes are distinct");

		// Every code in the worker's DepLibSRTP::ErrorCode2String table (an
		// initializer-list map: a duplicate value would silently drop an
		// entry) exists, with libsrtp 3's numbering 0..29.
		const srtp_err_status_t workerCodes[] = {
			srtp_err_status_ok,          srtp_err_status_fail,          srtp_err_status_bad_param,
			srtp_err_status_alloc_fail,  srtp_err_status_dealloc_fail,  srtp_err_status_init_fail,
			srtp_err_status_terminus,    srtp_err_status_auth_fail,     srtp_err_status_cipher_fail,
			srtp_err_status_replay_fail, srtp_err_status_replay_old,    srtp_err_status_algo_fail,
			srtp_err_status_no_such_op,  srtp_err_status_no_ctx,        srtp_err_status_cant_check,
			srtp_err_status_key_expired, srtp_err_status_socket_err,    srtp_err_status_signal_err,
			srtp_err_status_nonce_bad,   srtp_err_status_read_fail,     srtp_err_status_write_fail,
			srtp_err_status_parse_err,   srtp_err_status_encode_err,    srtp_err_status_semaphore_err,
			srtp_err_status_pfkey_err,   srtp_err_status_bad_mki,       srtp_err_status_pkt_idx_old,
			srtp_err_status_pkt_idx_adv, srtp_err_status_buffer_small,  srtp_err_status_cryptex_err,
		};
		bool numbered = true;
		std::set<int> distinct;
		for (size_t i = 0; i < sizeof(workerCodes) / sizeof(workerCodes[0]); ++i)
		{
			numbered = numbered && static_cast<int>(workerCodes[i]) == static_cast<int>(i);
			distinct.insert(static_cast<int>(workerCodes[i]));
		}
		Check(numbered && distinct.size() == 30, "the 30 error codes the worker names are distinct and numbered 0..29 as in libsrtp 3");

		srtp_t rx = NewSession(false, Suite::AES_CM_128_HMAC_SHA1_80);
		srtp_t tx = NewSession(true, Suite::AES_CM_128_HMAC_SHA1_80);
		const auto rtp = RtpPacket(40, 20);
		std::vector<uint8_t> enc(rtp.size() + SRTP_MAX_TRAILER_LEN);
		size_t encLen = enc.size();
		srtp_protect(tx, rtp.data(), rtp.size(), enc.data(), &encLen, 0);
		size_t decLen = encLen;
		srtp_unprotect(rx, enc.data(), encLen, enc.data(), &decLen);
		CheckErr(srtp_stream_remove(rx, htonl(0x11223344u)), srtp_err_status_ok, "srtp_stream_remove of a known SSRC");
		CheckErr(
		  srtp_stream_remove(rx, htonl(0x55667788u)), srtp_err_status_no_ctx, "srtp_stream_remove of an unknown SSRC");
		srtp_dealloc(rx);
		srtp_dealloc(tx);
	}

	// The replay window and allow_repeat_tx reach libsrtp2 (mediasoup sets
	// window 1024 and repeat tx on; the checks use other values to see them).
	void TestReplayWindowAndRepeatTx()
	{
		const Suite suite = Suite::AES_CM_128_HMAC_SHA1_80;

		// Repeat tx: the same RTP packet protected twice (RTX without RTX).
		for (int allow = 0; allow < 2; ++allow)
		{
			srtp_t tx = NewSession(true, suite, nullptr, allow == 1);
			const auto rtp = RtpPacket(50, 40);
			std::vector<uint8_t> out(rtp.size() + SRTP_MAX_TRAILER_LEN);
			size_t outLen = out.size();
			srtp_protect(tx, rtp.data(), rtp.size(), out.data(), &outLen, 0);
			outLen = out.size();
			CheckErr(
			  srtp_protect(tx, rtp.data(), rtp.size(), out.data(), &outLen, 0),
			  allow ? srtp_err_status_ok : srtp_err_status_replay_fail,
			  allow ? "allow_repeat_tx on: protecting a packet again is allowed"
			        : "allow_repeat_tx off: protecting a packet again is refused (replay_fail)");
			srtp_dealloc(tx);
		}

		// Window: a packet 500 behind the newest is inside a 1024 window and
		// outside a 64 one (replay_old).
		for (size_t window : { static_cast<size_t>(1024), static_cast<size_t>(64) })
		{
			srtp_t tx = NewSession(true, suite);
			srtp_t rx = NewSession(false, suite, nullptr, true, window);
			std::vector<std::vector<uint8_t>> packets;
			for (uint16_t seq : { static_cast<uint16_t>(1000), static_cast<uint16_t>(1500) })
			{
				const auto rtp = RtpPacket(seq, 30);
				std::vector<uint8_t> enc(rtp.size() + SRTP_MAX_TRAILER_LEN);
				size_t encLen = enc.size();
				srtp_protect(tx, rtp.data(), rtp.size(), enc.data(), &encLen, 0);
				enc.resize(encLen);
				packets.push_back(enc);
			}
			size_t len = packets[1].size();
			srtp_unprotect(rx, packets[1].data(), packets[1].size(), packets[1].data(), &len);
			len = packets[0].size();
			CheckErr(
			  srtp_unprotect(rx, packets[0].data(), packets[0].size(), packets[0].data(), &len),
			  window == 1024 ? srtp_err_status_ok : srtp_err_status_replay_old,
			  window == 1024 ? "window 1024: a packet 500 behind is accepted"
			                 : "window 64: a packet 500 behind is refused (replay_old)");
			srtp_dealloc(tx);
			srtp_dealloc(rx);
		}
	}

#if !CONFD_SRTP_ADAPTER_STRUCT_POLICY
	// The libsrtp 3.0 policy API: every refusal the worker's checks can see,
	// and the bounds checks of key and salt against the profile.
	void TestPolicyApi()
	{
		const uint8_t* k = key1;
		srtp_policy_t policy{ nullptr };
		srtp_t session{ nullptr };
		srtp_ssrc_t inbound{};
		inbound.type = ssrc_any_inbound;

		CheckErr(srtp_policy_create(nullptr), srtp_err_status_bad_param, "policy_create(nullptr) refused");
		CheckErr(srtp_policy_set_ssrc(nullptr, inbound), srtp_err_status_bad_param, "set_ssrc on a null policy refused");
		CheckErr(
		  srtp_policy_set_profile(nullptr, srtp_profile_aes128_cm_sha1_80),
		  srtp_err_status_bad_param,
		  "set_profile on a null policy refused");
		CheckErr(srtp_policy_add_key(nullptr, k, 16, k + 16, 14, nullptr, 0), srtp_err_status_bad_param, "add_key on a null policy refused");
		CheckErr(srtp_policy_set_allow_repeat_tx(nullptr, true), srtp_err_status_bad_param, "set_allow_repeat_tx on a null policy refused");
		CheckErr(srtp_policy_set_window_size(nullptr, 1024), srtp_err_status_bad_param, "set_window_size on a null policy refused");
		srtp_policy_destroy(nullptr); // must be a no-op

		CheckErr(srtp_policy_create(&policy), srtp_err_status_ok, "policy_create");
		if (!policy)
		{
			return;
		}

		// SSRC.
		srtp_ssrc_t undefinedSsrc{};
		CheckErr(srtp_policy_set_ssrc(policy, undefinedSsrc), srtp_err_status_bad_param, "set_ssrc: ssrc_undefined refused");

		// Profile.
		CheckErr(srtp_policy_set_profile(policy, srtp_profile_reserved), srtp_err_status_bad_param, "set_profile: srtp_profile_reserved refused");
		CheckErr(
		  srtp_policy_set_profile(policy, static_cast<srtp_profile_t>(99)), srtp_err_status_bad_param, "set_profile: unknown profile refused");

		// srtp_create refuses an incomplete policy.
		CheckErr(srtp_create(&session, policy), srtp_err_status_bad_param, "srtp_create: no profile, SSRC or key refused");
		CheckErr(srtp_policy_set_profile(policy, srtp_profile_aes128_cm_sha1_80), srtp_err_status_ok, "set_profile AES_CM_128_HMAC_SHA1_80");
		CheckErr(srtp_create(&session, policy), srtp_err_status_bad_param, "srtp_create: no SSRC or key refused");
		CheckErr(srtp_policy_set_ssrc(policy, inbound), srtp_err_status_ok, "set_ssrc ssrc_any_inbound");
		CheckErr(srtp_create(&session, policy), srtp_err_status_bad_param, "srtp_create: no key refused");
		Check(session == nullptr, "refused srtp_create leaves the session null");

		// Key and salt bounds against the profile (16 + 14 for AES_CM_128).
		CheckErr(srtp_policy_add_key(policy, nullptr, 16, k + 16, 14, nullptr, 0), srtp_err_status_bad_param, "add_key: null key refused");
		CheckErr(srtp_policy_add_key(policy, k, 16, nullptr, 14, nullptr, 0), srtp_err_status_bad_param, "add_key: null salt refused");
		CheckErr(srtp_policy_add_key(policy, k, 15, k + 15, 14, nullptr, 0), srtp_err_status_bad_param, "add_key: key 15 bytes for a 16 byte profile refused");
		CheckErr(srtp_policy_add_key(policy, k, 32, k + 32, 14, nullptr, 0), srtp_err_status_bad_param, "add_key: key 32 bytes for a 16 byte profile refused");
		CheckErr(srtp_policy_add_key(policy, k, 16, k + 16, 12, nullptr, 0), srtp_err_status_bad_param, "add_key: salt 12 bytes for a 14 byte profile refused");
		CheckErr(srtp_policy_add_key(policy, k, 16, k + 16, 0, nullptr, 0), srtp_err_status_bad_param, "add_key: empty salt refused");
		CheckErr(srtp_policy_add_key(policy, k, SIZE_MAX, k, 14, nullptr, 0), srtp_err_status_bad_param, "add_key: SIZE_MAX key length refused (no overflow)");
		CheckErr(srtp_policy_add_key(policy, k, 16, k, SIZE_MAX - 15, nullptr, 0), srtp_err_status_bad_param, "add_key: key + salt length overflow refused");
		const uint8_t mki[4] = { 1, 2, 3, 4 };
		CheckErr(srtp_policy_add_key(policy, k, 16, k + 16, 14, mki, 4), srtp_err_status_bad_param, "add_key: an MKI is refused (not supported)");
		CheckErr(srtp_policy_add_key(policy, k, 16, k + 16, 14, nullptr, 0), srtp_err_status_ok, "add_key: 16 + 14 bytes");
		CheckErr(srtp_policy_add_key(policy, k, 16, k + 16, 14, nullptr, 0), srtp_err_status_bad_param, "add_key: a second key without MKI refused");
		CheckErr(
		  srtp_policy_set_profile(policy, srtp_profile_aead_aes_256_gcm),
		  srtp_err_status_bad_param,
		  "set_profile: a profile the added key does not fit is refused");

		// Window size: 0 or 64..0x7fff, as libsrtp.
		CheckErr(srtp_policy_set_window_size(policy, 63), srtp_err_status_bad_param, "set_window_size 63 refused");
		CheckErr(srtp_policy_set_window_size(policy, 0x8000), srtp_err_status_bad_param, "set_window_size 0x8000 refused");
		CheckErr(srtp_policy_set_window_size(policy, 64), srtp_err_status_ok, "set_window_size 64");
		CheckErr(srtp_policy_set_window_size(policy, 0x7fff), srtp_err_status_ok, "set_window_size 0x7fff");
		CheckErr(srtp_policy_set_window_size(policy, 0), srtp_err_status_ok, "set_window_size 0 (default)");
		CheckErr(srtp_policy_set_window_size(policy, 1024), srtp_err_status_ok, "set_window_size 1024");
		CheckErr(srtp_policy_set_allow_repeat_tx(policy, true), srtp_err_status_ok, "set_allow_repeat_tx");

		CheckErr(srtp_create(nullptr, policy), srtp_err_status_bad_param, "srtp_create: null session pointer refused");
		CheckErr(srtp_create(&session, static_cast<srtp_policy_t>(nullptr)), srtp_err_status_bad_param, "srtp_create: null policy refused");
		CheckErr(srtp_create(&session, policy), srtp_err_status_ok, "srtp_create with a complete policy");
		srtp_policy_destroy(policy);
		if (session)
		{
			srtp_dealloc(session);
		}

		// Key added before the profile: srtp_create checks the lengths.
		srtp_policy_t early{ nullptr };
		srtp_t s2{ nullptr };
		srtp_policy_create(&early);
		srtp_policy_set_ssrc(early, inbound);
		CheckErr(srtp_policy_add_key(early, k, 16, k + 16, 12, nullptr, 0), srtp_err_status_ok, "add_key before set_profile is accepted");
		CheckErr(
		  srtp_policy_set_profile(early, srtp_profile_aes128_cm_sha1_80),
		  srtp_err_status_bad_param,
		  "then set_profile with other key/salt lengths is refused");
		CheckErr(srtp_create(&s2, early), srtp_err_status_bad_param, "and srtp_create without a profile refuses it");
		CheckErr(srtp_policy_set_profile(early, srtp_profile_aead_aes_128_gcm), srtp_err_status_ok, "a profile the key fits (AEAD_AES_128_GCM: 16 + 12)");
		CheckErr(srtp_create(&s2, early), srtp_err_status_ok, "srtp_create then succeeds");
		srtp_policy_destroy(early);
		if (s2)
		{
			srtp_dealloc(s2);
		}

		// Each profile: the worker's key+salt lengths are accepted, one byte
		// more or less refused.
		for (Suite suite : { Suite::AES_CM_128_HMAC_SHA1_80, Suite::AES_CM_128_HMAC_SHA1_32, Suite::AEAD_AES_128_GCM, Suite::AEAD_AES_256_GCM })
		{
			const srtp_profile_t profile = ProfileOf(suite);
			const size_t kl              = srtp_profile_get_master_key_length(profile);
			const size_t sl              = srtp_profile_get_master_salt_length(profile);
			bool ok                      = true;
			for (int dk = -1; dk <= 1; ++dk)
			{
				for (int ds = -1; ds <= 1; ++ds)
				{
					srtp_policy_t p{ nullptr };
					srtp_policy_create(&p);
					srtp_policy_set_profile(p, profile);
					const srtp_err_status_t err =
					  srtp_policy_add_key(p, k, kl + dk, k + kl + dk, sl + ds, nullptr, 0);
					ok = ok && err == ((dk == 0 && ds == 0) ? srtp_err_status_ok : srtp_err_status_bad_param);
					srtp_policy_destroy(p);
				}
			}
			char what[160];
			std::snprintf(what, sizeof(what), "profile %d: key %zu + salt %zu accepted, +-1 byte refused", static_cast<int>(profile), kl, sl);
			Check(ok, what);
		}
	}
#endif
} // namespace

int main()
{
	for (size_t i = 0; i < sizeof(key1); ++i)
	{
		key1[i] = static_cast<uint8_t>(i * 3 + 1);
		key2[i] = static_cast<uint8_t>(i * 5 + 2);
	}

	std::printf("srtp-adapter: %s\n", API_LEVEL);
	std::printf("libsrtp: %s\n", srtp_get_version_string());
	if (srtp_init() != srtp_err_status_ok)
	{
		std::printf("FAIL: srtp_init\n");
		return 1;
	}

	const struct
	{
		Suite suite;
		const char* name;
	} suites[] = {
		{ Suite::AES_CM_128_HMAC_SHA1_80, "AES_CM_128_HMAC_SHA1_80" },
		{ Suite::AES_CM_128_HMAC_SHA1_32, "AES_CM_128_HMAC_SHA1_32" },
		{ Suite::AEAD_AES_128_GCM, "AEAD_AES_128_GCM" },
		{ Suite::AEAD_AES_256_GCM, "AEAD_AES_256_GCM" },
	};
	for (const auto& s : suites)
	{
		TestSuiteRoundTrip(s.suite, s.name);
		TestInterop(s.suite, s.name);
	}
	TestBufferTooSmall();
	TestMki();
	TestErrorCodesAndRemove();
	TestReplayWindowAndRepeatTx();
#if !CONFD_SRTP_ADAPTER_STRUCT_POLICY
	TestPolicyApi();
#endif

	srtp_shutdown();

	std::printf("srtp-adapter: %d passed, %d failed\n", passed, failed);

	return failed == 0 ? 0 : 1;
}
