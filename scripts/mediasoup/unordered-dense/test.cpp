// Tests of the confd ankerl::unordered_dense shim (include/ankerl/unordered_dense.h):
// build and run with run-test.sh. Exercises what the mediasoup worker uses
// (3.20.1 .. 3.27.1): map (also with a custom hash), set, hash<T>{}(x) for
// integer, enum and pointer types, and the members it calls. Prints one line
// per check and a closing "N passed, N failed" line; exits non-zero on failure.
#include <ankerl/unordered_dense.h>

// contains() is a member of the std containers from C++20 on; the C++17
// build (as deps/libwebrtc compiles) checks membership with find()/count().
#if __cplusplus >= 202002L
#define CONTAINS(c, k) (c).contains(k)
#else
#define CONTAINS(c, k) ((c).count(k) != 0)
#endif

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

// A third socket address for "same tuple, other socket".
int otherSocket = 0;

namespace
{
	int passed = 0;
	int failed = 0;

	void Check(bool ok, const char* what)
	{
		std::printf("%s: %s\n", ok ? "ok" : "FAIL", what);
		(ok ? passed : failed)++;
	}

	// As mediasoup's Utils::Crypto::HashCombine (boost::hash_combine).
	void HashCombine(size_t& seed, size_t value)
	{
		seed ^= value + 0x9e3779b9 + (seed << 6) + (seed >> 2);
	}

	// A key with a custom hash, like RTC::TransportTuple::TupleKey.
	struct TupleKey
	{
		uint8_t protocol;
		uint32_t addr;
		uint16_t port;
		const void* socket;

		bool operator==(const TupleKey& other) const
		{
			return protocol == other.protocol && addr == other.addr && port == other.port && socket == other.socket;
		}
	};

	struct TupleKeyHash
	{
		size_t operator()(const TupleKey& key) const noexcept
		{
			size_t seed = 0;
			HashCombine(seed, ankerl::unordered_dense::hash<uint8_t>{}(key.protocol));
			HashCombine(
			  seed, ankerl::unordered_dense::hash<uintptr_t>{}(reinterpret_cast<uintptr_t>(key.socket)));
			HashCombine(seed, ankerl::unordered_dense::hash<uint32_t>{}(key.addr));
			HashCombine(seed, ankerl::unordered_dense::hash<uint16_t>{}(key.port));
			return seed;
		}
	};

	enum class ErrorCode : int
	{
		OK         = 0,
		FAIL       = 1,
		BAD_PARAM  = 2,
		BUFFER_SMALL = 28
	};

	struct Producer
	{
		uint32_t id;
	};

	void TestHash()
	{
		namespace ud = ankerl::unordered_dense;

		// Reference values of unordered_dense 4.x's wyhash::hash(uint64_t):
		// mum(x, 0x9E3779B97F4A7C15) folded (low ^ high).
		Check(ud::hash<uint64_t>{}(0) == 0u, "hash<uint64_t>(0) == 0 (as upstream)");
		Check(ud::hash<uint64_t>{}(1) == UINT64_C(0x9E3779B97F4A7C15), "hash<uint64_t>(1) == 0x9E3779B97F4A7C15 (as upstream)");
		Check(ud::hash<uint64_t>{}(2) == UINT64_C(0x3C6EF372FE94F82B), "hash<uint64_t>(2) == 0x3C6EF372FE94F82B (as upstream)");

		// Every integer width the worker hashes gives the 64-bit value of the
		// zero-extended integer, as upstream's static_cast<uint64_t>.
		Check(ud::hash<uint8_t>{}(200) == ud::hash<uint64_t>{}(200), "hash<uint8_t> == hash<uint64_t> of the same value");
		Check(ud::hash<uint16_t>{}(54321) == ud::hash<uint64_t>{}(54321), "hash<uint16_t> == hash<uint64_t> of the same value");
		Check(ud::hash<uint32_t>{}(0xC0A80001u) == ud::hash<uint64_t>{}(0xC0A80001u), "hash<uint32_t> == hash<uint64_t> of the same value");
		Check(ud::hash<uintptr_t>{}(0x7fff1234u) == ud::hash<uint64_t>{}(0x7fff1234u), "hash<uintptr_t> == hash<uint64_t>");
		Check(ud::hash<ErrorCode>{}(ErrorCode::BUFFER_SMALL) == ud::hash<uint64_t>{}(28), "hash<enum> hashes the underlying value");
		int x = 0;
		Check(
		  ud::hash<int*>{}(&x) == ud::hash<uint64_t>{}(reinterpret_cast<uintptr_t>(&x)), "hash<T*> hashes the address");
		Check(ud::hash<std::string>{}("abc") == std::hash<std::string>{}("abc"), "hash<std::string> is std::hash");

		static_assert(std::is_same_v<decltype(ud::hash<uint16_t>{}(1)), uint64_t>, "hash returns uint64_t");
		static_assert(noexcept(ud::hash<uint32_t>{}(1u)), "integer hash is noexcept");
		static_assert(std::is_void_v<ud::hash<uint32_t>::is_avalanching>, "integer hash is avalanching");

		// The portable multiply matches the __int128 one.
		std::mt19937_64 rng(12345);
		bool same = true;
		for (int i = 0; i < 100000; ++i)
		{
			const uint64_t a = rng();
			const uint64_t b = (i % 2) ? rng() : UINT64_C(0x9E3779B97F4A7C15);
			same = same && ud::detail::Mix(a, b) == ud::detail::MixPortable(a, b);
		}
		same = same && ud::detail::Mix(~UINT64_C(0), ~UINT64_C(0)) == ud::detail::MixPortable(~UINT64_C(0), ~UINT64_C(0));
		Check(same, "portable 64x64->128 mix == __int128 mix (100,000 random pairs and the maximum)");

		// Avalanche: flipping one input bit flips about half the output bits.
		double flips = 0;
		int samples  = 0;
		for (int i = 0; i < 2000; ++i)
		{
			const uint64_t v = rng();
			for (int bit = 0; bit < 64; ++bit)
			{
				flips += __builtin_popcountll(ud::hash<uint64_t>{}(v) ^ ud::hash<uint64_t>{}(v ^ (UINT64_C(1) << bit)));
				++samples;
			}
		}
		const double mean = flips / samples;
		std::printf("  (mean output bits flipped per input bit: %.2f of 64)\n", mean);
		Check(mean > 28 && mean < 36, "integer hash avalanches (one input bit flips ~32 output bits)");
	}

	void TestMap()
	{
		ankerl::unordered_dense::map<uint32_t, Producer*> map;
		Producer p1{ 1 }, p2{ 2 }, p3{ 3 };

		Check(map.empty() && map.size() == 0, "map: starts empty");
		map.reserve(64);
		map[1111] = &p1;
		auto [it, inserted] = map.insert({ 2222, &p2 });
		Check(inserted && it->second == &p2, "map: insert returns the new element");
		auto [it2, inserted2] = map.insert({ 2222, &p3 });
		Check(!inserted2 && it2->second == &p2, "map: insert keeps an existing key's value");
		map.emplace(3333, &p3);
		auto [it3, inserted3] = map.try_emplace(3333, &p1);
		Check(!inserted3 && it3->second == &p3, "map: try_emplace keeps an existing key's value");
		Check(map.size() == 3 && !map.empty(), "map: size after inserts");
		Check(map.find(1111) != map.end() && map.find(1111)->second == &p1, "map: find hit");
		Check(map.find(4444) == map.end(), "map: find miss == end()");
		Check(CONTAINS(map, 3333) && !CONTAINS(map, 4444), "map: contains");
		Check(map.at(2222) == &p2, "map: at hit");
		bool threw = false;
		try
		{
			(void)map.at(4444);
		}
		catch (const std::out_of_range&)
		{
			threw = true;
		}
		Check(threw, "map: at miss throws std::out_of_range");

		const auto& cmap = map;
		Check(cmap.find(3333) != cmap.end() && cmap.at(3333) == &p3, "map: const find/at");

		uint32_t sum = 0;
		for (const auto& [ssrc, producer] : map)
		{
			sum += ssrc + producer->id;
		}
		Check(sum == 1111 + 2222 + 3333 + 1 + 2 + 3, "map: range-for visits every element once");

		Check(map.erase(2222) == 1 && map.erase(2222) == 0 && map.size() == 2, "map: erase by key");
		map.erase(map.find(1111));
		Check(map.size() == 1 && !CONTAINS(map, 1111), "map: erase by iterator");

		// The worker's "erase while iterating" pattern.
		for (uint32_t i = 0; i < 1000; ++i)
		{
			map[i * 7919u] = (i % 2) ? &p1 : &p2;
		}
		for (auto iter = map.begin(); iter != map.end();)
		{
			if (iter->second == &p1)
				iter = map.erase(iter);
			else
				++iter;
		}
		bool onlyP2 = true;
		for (const auto& kv : map)
			onlyP2 = onlyP2 && kv.second != &p1;
		Check(onlyP2 && map.size() == 500 + 1, "map: it = erase(it) loop removes exactly the matching elements");

		// References stay valid across inserts (std guarantee; stricter than upstream).
		Producer*& ref = map[0];
		for (uint32_t i = 0; i < 10000; ++i)
			map[1000000 + i] = &p3;
		Check(&ref == &map[0], "map: references survive rehashing inserts");

		map.clear();
		Check(map.empty() && map.begin() == map.end(), "map: clear");

		// Initializer list with an enum key, as DepLibSRTP::ErrorCode2String.
		const ankerl::unordered_dense::map<ErrorCode, std::string> names = {
			{ ErrorCode::OK, "nothing to report" },
			{ ErrorCode::FAIL, "unspecified failure" },
			{ ErrorCode::BAD_PARAM, "unsupported parameter" },
			{ ErrorCode::BUFFER_SMALL, "out buffer is too small" },
		};
		Check(names.size() == 4 && names.at(ErrorCode::BUFFER_SMALL) == "out buffer is too small", "map: initializer list, enum key");

		ankerl::unordered_dense::map<std::string, int> byName;
		byName["abc"] = 1;
		byName.emplace("def", 2);
		Check(byName.at("abc") == 1 && byName.find("def")->second == 2, "map: std::string key");
	}

	void TestCustomHashMap()
	{
		ankerl::unordered_dense::map<TupleKey, int, TupleKeyHash> map;
		int socketA = 0, socketB = 0;

		// 256 addresses x 256 ports on two sockets: 131,072 distinct keys.
		std::vector<size_t> hashes;
		hashes.reserve(131072);
		for (uint32_t a = 0; a < 256; ++a)
		{
			for (uint32_t p = 0; p < 256; ++p)
			{
				for (const void* s : { static_cast<const void*>(&socketA), static_cast<const void*>(&socketB) })
				{
					const TupleKey key{ 17, 0xC6120000u | a, static_cast<uint16_t>(40000 + p), s };
					map.emplace(key, static_cast<int>(a * 256 + p));
					hashes.push_back(TupleKeyHash{}(key));
				}
			}
		}
		Check(map.size() == 131072, "custom-hash map: 131,072 distinct tuple keys stored");

		const TupleKey probe{ 17, 0xC6120000u | 77, 40000 + 99, &socketB };
		Check(map.find(probe) != map.end() && map.find(probe)->second == 77 * 256 + 99, "custom-hash map: find by equal key");
		TupleKey other = probe;
		other.socket = &otherSocket;
		Check(map.find(other) == map.end(), "custom-hash map: a key differing only in the socket is another key");

		std::sort(hashes.begin(), hashes.end());
		const bool unique = std::adjacent_find(hashes.begin(), hashes.end()) == hashes.end();
		Check(unique, "custom-hash map: no 64-bit hash collisions among the 131,072 tuple keys");
	}

	void TestSet()
	{
		ankerl::unordered_dense::set<Producer*> set;
		Producer p1{ 1 }, p2{ 2 };

		Check(set.insert(&p1).second && !set.insert(&p1).second, "set: insert once");
		set.emplace(&p2);
		Check(set.size() == 2 && CONTAINS(set, &p2) && set.find(&p1) != set.end(), "set: size/contains/find");
		int n = 0;
		for (auto* p : set)
			n += static_cast<int>(p->id);
		Check(n == 3, "set: range-for");
		Check(set.erase(&p1) == 1 && !CONTAINS(set, &p1) && set.size() == 1, "set: erase");
		set.clear();
		Check(set.empty(), "set: clear");

		const ankerl::unordered_dense::set<uint8_t> payloadTypes = { 96, 97, 111 };
		Check(payloadTypes.size() == 3 && CONTAINS(payloadTypes, 111) && !CONTAINS(payloadTypes, 98), "set: initializer list");
	}
} // namespace


int main()
{
	TestHash();
	TestMap();
	TestCustomHashMap();
	TestSet();

	std::printf("unordered-dense shim: %d passed, %d failed\n", passed, failed);

	return failed == 0 ? 0 : 1;
}
