/*
 * confd shim for ankerl::unordered_dense (https://github.com/martinus/unordered_dense),
 * which mediasoup >= 3.20.1 uses and Debian 12 does not package.
 *
 * It provides only what the mediasoup worker uses (3.20.1 .. 3.27.1, checked
 * by grep over the worker sources and by building them):
 *   - ankerl::unordered_dense::map<Key, T[, Hash[, KeyEqual[, Allocator]]]>:
 *     an alias of std::unordered_map;
 *   - ankerl::unordered_dense::set<Key[, Hash[, KeyEqual[, Allocator]]]>:
 *     an alias of std::unordered_set;
 *   - ankerl::unordered_dense::hash<T>: for integer and enum types the same
 *     64-bit mixing hash as unordered_dense 4.x (wyhash "mum" multiply-fold,
 *     so values match upstream and TransportTuple/PortManager keys hash as
 *     well as there); for other types std::hash<T>.
 *
 * The members the worker calls (find/end/begin/erase/clear/at/operator[]/
 * size/empty/contains/reserve/insert/emplace/try_emplace, range-for,
 * initializer lists) are the std containers' own. Not provided: segmented
 * containers, values(), extract()/replace(), nth(), transparent lookup and
 * the pmr variants; code that needs them fails to compile instead of
 * misbehaving.
 *
 * Differences from the real library that code could observe:
 *   - iteration order is not insertion order (unordered_dense iterates its
 *     dense vector in insertion order until the first erase);
 *   - value_type is std::pair<const Key, T> (unordered_dense: std::pair<Key, T>);
 *   - iterators and references stay valid on insert and on erase of other
 *     elements (std guarantees; unordered_dense invalidates on insert and
 *     moves the last element into an erased slot). Code written for
 *     unordered_dense is therefore safe here, except for order.
 * The default hash of map and set is std::hash<Key> (identity for integers,
 * which libstdc++'s prime-sized bucket arrays spread well and treat as "fast",
 * so nodes do not cache the hash).
 */
#ifndef CONFD_ANKERL_UNORDERED_DENSE_SHIM_H
#define CONFD_ANKERL_UNORDERED_DENSE_SHIM_H

// C++17 at least: the worker builds as C++20, its deps/libwebrtc as C++17
// (it includes worker headers that include this one). contains() is a C++20
// member of the std containers, so C++17 code calling it fails to compile.
#if __cplusplus < 201703L
#error "the confd unordered_dense shim needs C++17 or later"
#endif

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

// The real library's version macros (4.8.1 is the version mediasoup pins).
#define ANKERL_UNORDERED_DENSE_VERSION_MAJOR 4
#define ANKERL_UNORDERED_DENSE_VERSION_MINOR 8
#define ANKERL_UNORDERED_DENSE_VERSION_PATCH 1
#define CONFD_ANKERL_UNORDERED_DENSE_SHIM 1

namespace ankerl::unordered_dense
{
	namespace detail
	{
		// Portable 64x64 -> 128 bit multiply, returns low ^ high (wyhash's
		// mum + mix). Used where the compiler has no 128-bit integer; the test
		// checks it against the __int128 path.
		inline std::uint64_t MixPortable(std::uint64_t a, std::uint64_t b) noexcept
		{
			const std::uint64_t ha = a >> 32;
			const std::uint64_t hb = b >> 32;
			const std::uint64_t la = a & 0xffffffffu;
			const std::uint64_t lb = b & 0xffffffffu;
			const std::uint64_t rh  = ha * hb;
			const std::uint64_t rm0 = ha * lb;
			const std::uint64_t rm1 = hb * la;
			const std::uint64_t rl  = la * lb;
			const std::uint64_t t   = rl + (rm0 << 32);
			std::uint64_t carry     = t < rl ? 1u : 0u;
			const std::uint64_t lo  = t + (rm1 << 32);
			carry += lo < t ? 1u : 0u;
			const std::uint64_t hi = rh + (rm0 >> 32) + (rm1 >> 32) + carry;
			return lo ^ hi;
		}

		inline std::uint64_t Mix(std::uint64_t a, std::uint64_t b) noexcept
		{
#if defined(__SIZEOF_INT128__)
			const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
			return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
#else
			return MixPortable(a, b);
#endif
		}

		inline std::uint64_t HashU64(std::uint64_t x) noexcept
		{
			return Mix(x, UINT64_C(0x9E3779B97F4A7C15));
		}
	} // namespace detail

	template<typename T, typename Enable = void>
	struct hash
	{
		auto operator()(const T& obj) const noexcept(noexcept(std::hash<T>{}(obj))) -> std::uint64_t
		{
			return std::hash<T>{}(obj);
		}
	};

	template<typename T>
	struct hash<T, std::enable_if_t<std::is_integral_v<T> || std::is_enum_v<T>>>
	{
		using is_avalanching = void;

		auto operator()(const T& obj) const noexcept -> std::uint64_t
		{
			if constexpr (std::is_enum_v<T>)
			{
				using U = std::underlying_type_t<T>;
				return detail::HashU64(static_cast<std::uint64_t>(static_cast<U>(obj)));
			}
			else
			{
				return detail::HashU64(static_cast<std::uint64_t>(obj));
			}
		}
	};

	template<typename T>
	struct hash<T*>
	{
		using is_avalanching = void;

		auto operator()(T* ptr) const noexcept -> std::uint64_t
		{
			return detail::HashU64(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(ptr)));
		}
	};

	template<
	  class Key,
	  class T,
	  class Hash      = std::hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<std::pair<const Key, T>>>
	using map = std::unordered_map<Key, T, Hash, KeyEqual, Allocator>;

	template<
	  class Key,
	  class Hash      = std::hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<Key>>
	using set = std::unordered_set<Key, Hash, KeyEqual, Allocator>;

	// unordered_dense 4.x puts the types in an inline versioned namespace;
	// code that spells it out (v4_8_1) finds them there too.
	namespace v4_8_1
	{
		using ::ankerl::unordered_dense::hash;
		using ::ankerl::unordered_dense::map;
		using ::ankerl::unordered_dense::set;
	} // namespace v4_8_1
} // namespace ankerl::unordered_dense

#endif // CONFD_ANKERL_UNORDERED_DENSE_SHIM_H
