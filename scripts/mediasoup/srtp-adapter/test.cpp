// Tests of the confd libsrtp adapter (include/srtp.h) against Debian's
// libsrtp2: build and run with run-test.sh. Prints one line per check and a
// closing "N passed, N failed" line; exits non-zero on any failure.
#include "srtp.h" // the adapter (first on the include path)

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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
		AEAD_AES_128_GCM,
		AEAD_AES_256_GCM
	};

	// 46 bytes: enough for every suite used here (AES-256 key + 12 byte salt).
	uint8_t key1[46];
	uint8_t key2[46];

	void SetSuite(srtp_policy_t& policy, Suite suite)
	{
		switch (suite)
		{
			case Suite::AES_CM_128_HMAC_SHA1_80:
				srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
				srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
				break;
			case Suite::AEAD_AES_128_GCM:
				srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
				srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
				break;
			case Suite::AEAD_AES_256_GCM:
				srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
				srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
				break;
		}
	}

	// A session configured the way mediasoup's SrtpSession configures it.
	srtp_t NewSession(bool outbound, Suite suite, srtp_err_status_t* status = nullptr)
	{
		srtp_policy_t policy;
		std::memset(&policy, 0, sizeof(policy));
		SetSuite(policy, suite);
		policy.ssrc.type       = outbound ? ssrc_any_outbound : ssrc_any_inbound;
		policy.ssrc.value      = 0;
		policy.key             = key1;
		policy.allow_repeat_tx = 1;
		policy.window_size     = 1024;
		policy.next            = nullptr;

		srtp_t session{ nullptr };
		const srtp_err_status_t err = srtp_create(&session, &policy);

		if (status)
		{
			*status = err;
		}

		return err == srtp_err_status_ok ? session : nullptr;
	}

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

	// The adapter's wire format is plain libsrtp2's: a peer using the libsrtp2
	// API (in place, int lengths) accepts what the adapter protects and the
	// other way round.
	void TestInterop()
	{
		srtp_t tx   = NewSession(true, Suite::AES_CM_128_HMAC_SHA1_80);
		srtp_t rx   = NewSession(false, Suite::AES_CM_128_HMAC_SHA1_80);
		srtp_t tx2  = NewSession(true, Suite::AES_CM_128_HMAC_SHA1_80);
		srtp_t rx2  = NewSession(false, Suite::AES_CM_128_HMAC_SHA1_80);
		const auto rtp = RtpPacket(10, 80);

		std::vector<uint8_t> enc(rtp.size() + SRTP_MAX_TRAILER_LEN);
		size_t encLen = enc.size();
		srtp_protect(tx, rtp.data(), rtp.size(), enc.data(), &encLen, 0);
		int rawLen = static_cast<int>(encLen);
		const srtp_err_status_t e1 = srtp_unprotect(rx, static_cast<void*>(enc.data()), &rawLen);
		Check(
		  e1 == srtp_err_status_ok && rawLen == static_cast<int>(rtp.size()) &&
		    std::memcmp(enc.data(), rtp.data(), rtp.size()) == 0,
		  "interop: adapter protect -> libsrtp2 srtp_unprotect");

		std::vector<uint8_t> buf(rtp.size() + SRTP_MAX_TRAILER_LEN);
		std::memcpy(buf.data(), rtp.data(), rtp.size());
		int protLen = static_cast<int>(rtp.size());
		srtp_protect(tx2, static_cast<void*>(buf.data()), &protLen);
		std::vector<uint8_t> out(static_cast<size_t>(protLen));
		size_t outLen = out.size();
		const srtp_err_status_t e2 = srtp_unprotect(rx2, buf.data(), static_cast<size_t>(protLen), out.data(), &outLen);
		Check(
		  e2 == srtp_err_status_ok && outLen == rtp.size() && std::memcmp(out.data(), rtp.data(), outLen) == 0,
		  "interop: libsrtp2 srtp_protect -> adapter unprotect");

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
	}

	void TestErrorCodesAndRemove()
	{
		Check(static_cast<int>(srtp_err_status_buffer_small) == 28, "srtp_err_status_buffer_small == 28");
		Check(static_cast<int>(srtp_err_status_cryptex_err) == 29, "srtp_err_status_cryptex_err == 29");
		Check(
		  srtp_err_status_buffer_small != srtp_err_status_pkt_idx_adv &&
		    srtp_err_status_cryptex_err != srtp_err_status_buffer_small,
		  "new error codes are distinct");

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
} // namespace

int main()
{
	for (size_t i = 0; i < sizeof(key1); ++i)
	{
		key1[i] = static_cast<uint8_t>(i * 3 + 1);
		key2[i] = static_cast<uint8_t>(i * 5 + 2);
	}

	std::printf("libsrtp: %s\n", srtp_get_version_string());
	if (srtp_init() != srtp_err_status_ok)
	{
		std::printf("FAIL: srtp_init\n");
		return 1;
	}

	TestSuiteRoundTrip(Suite::AES_CM_128_HMAC_SHA1_80, "AES_CM_128_HMAC_SHA1_80");
	TestSuiteRoundTrip(Suite::AEAD_AES_128_GCM, "AEAD_AES_128_GCM");
	TestSuiteRoundTrip(Suite::AEAD_AES_256_GCM, "AEAD_AES_256_GCM");
	TestInterop();
	TestBufferTooSmall();
	TestMki();
	TestErrorCodesAndRemove();

	srtp_shutdown();

	std::printf("srtp-adapter: %d passed, %d failed\n", passed, failed);

	return failed == 0 ? 0 : 1;
}
