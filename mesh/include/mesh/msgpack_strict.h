// Strict msgpack reading and writing helpers shared by the certificate,
// member-list and identity-file codecs (private to mesh/src).
//
// Decoding never throws: Unpack() turns msgpack-c's exceptions into a Corrupt
// Status, applies hard limits, and refuses trailing bytes; the Read* helpers
// check one field's type and bounds and say which field was wrong.
//
// Thread safety: free functions on values.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <msgpack.hpp>
#include <string>
#include <string_view>

#include "mesh/status.h"

namespace mesh::internal {

// msgpack::packer needs a write(const char*, size_t) sink.
struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t len) { out.append(data, len); }
};
using Packer = msgpack::packer<StringSink>;

inline void PackStr(Packer& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

inline void PackBin(Packer& pk, const void* data, std::size_t len) {
  pk.pack_bin(static_cast<std::uint32_t>(len));
  pk.pack_bin_body(static_cast<const char*>(data), static_cast<std::uint32_t>(len));
}

template <std::size_t N>
void PackBin(Packer& pk, const std::array<std::uint8_t, N>& a) {
  PackBin(pk, a.data(), N);
}

struct Limits {
  std::size_t max_bytes;  // refused unread above this
  std::size_t array;      // elements in any one array
  std::size_t map;        // pairs in any one map
  std::size_t str;        // bytes in any one string
  std::size_t bin;        // bytes in any one bin
  std::size_t depth;      // nesting
};

// Walks msgpack without building anything, refusing limit violations as soon
// as a header announces them. It runs before msgpack::unpack so that garbage
// is rejected without throwing (exceptions cost ~10 µs each, far more under
// qemu, which makes them a cheap way to burn a receiver's CPU).
class LimitVisitor : public msgpack::null_visitor {
 public:
  explicit LimitVisitor(const Limits& limits) : limits_(limits) {}

  bool visit_str(const char*, std::uint32_t size) {
    return Check(size <= limits_.str, "string too long");
  }
  bool visit_bin(const char*, std::uint32_t size) {
    return Check(size <= limits_.bin, "binary too long");
  }
  bool visit_ext(const char*, std::uint32_t) { return Check(false, "ext types are not allowed"); }
  bool start_array(std::uint32_t n) {
    return Check(n <= limits_.array, "array too long") &&
           Check(++depth_ <= limits_.depth, "nested too deep");
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool start_map(std::uint32_t n) {
    return Check(n <= limits_.map, "map too long") &&
           Check(++depth_ <= limits_.depth, "nested too deep");
  }
  bool end_map() {
    --depth_;
    return true;
  }
  void parse_error(std::size_t, std::size_t) { Check(false, "invalid msgpack type byte"); }
  void insufficient_bytes(std::size_t, std::size_t) { Check(false, "truncated"); }

  const char* why() const { return why_ != nullptr ? why_ : "malformed msgpack"; }

 private:
  bool Check(bool ok, const char* why) {
    if (!ok && why_ == nullptr) why_ = why;
    return ok;
  }

  const Limits& limits_;
  std::size_t depth_ = 0;
  const char* why_ = nullptr;
};

// Parses exactly one msgpack object spanning all of `bytes`. `op` names the
// operation for the error ("decode certificate"). The result points into
// `bytes`, which must outlive `out`.
inline Status Unpack(std::string_view bytes, const Limits& limits, std::string_view op,
                     msgpack::object_handle& out) {
  if (bytes.empty()) return Status::Corrupt(op, "empty input");
  if (bytes.size() > limits.max_bytes) {
    return Status::Corrupt(op, std::to_string(bytes.size()) + " bytes exceeds the " +
                                   std::to_string(limits.max_bytes) + "-byte limit");
  }
  std::size_t offset = 0;
  try {
    LimitVisitor check(limits);
    if (!msgpack::parse(bytes.data(), bytes.size(), offset, check))
      return Status::Corrupt(op, check.why());
    if (offset != bytes.size()) return Status::Corrupt(op, "trailing bytes after the object");
    offset = 0;
    const msgpack::unpack_limit lim(limits.array, limits.map, limits.str, limits.bin, 0,
                                    limits.depth);
    // Strings and bins reference `bytes` rather than being copied: faster, and
    // secret keys then live only in buffers the caller wipes.
    const msgpack::unpack_reference_func reference_all = [](msgpack::type::object_type, std::size_t,
                                                            void*) { return true; };
    out = msgpack::unpack(bytes.data(), bytes.size(), offset, reference_all, nullptr, lim);
  } catch (const std::exception& e) {
    return Status::Corrupt(op, std::string("malformed msgpack (") + e.what() + ")");
  }
  if (offset != bytes.size()) return Status::Corrupt(op, "trailing bytes after the object");
  return Status::Ok();
}

// Reads fields of one msgpack array in order; the first failure sticks and
// names the field.
class FieldReader {
 public:
  FieldReader(std::string_view op, const msgpack::object& array) : op_(op), array_(array) {}

  // Checks that the object is an array of exactly `n` elements.
  Status ExpectArray(std::size_t n, std::string_view what) const {
    if (array_.type != msgpack::type::ARRAY)
      return Status::Corrupt(op_, std::string(what) + " is not an array");
    if (array_.via.array.size != n) {
      return Status::Corrupt(op_, std::string(what) + " has " +
                                      std::to_string(array_.via.array.size) + " fields, expected " +
                                      std::to_string(n));
    }
    return Status::Ok();
  }

  const msgpack::object& at(std::size_t i) const { return array_.via.array.ptr[i]; }

  Status Uint(std::size_t i, std::string_view name, std::uint64_t& out) const {
    const auto& o = at(i);
    if (o.type != msgpack::type::POSITIVE_INTEGER) return Bad(name, "is not an unsigned integer");
    out = o.via.u64;
    return Status::Ok();
  }

  Status Int(std::size_t i, std::string_view name, std::int64_t& out) const {
    const auto& o = at(i);
    if (o.type == msgpack::type::NEGATIVE_INTEGER) {
      out = o.via.i64;
      return Status::Ok();
    }
    if (o.type == msgpack::type::POSITIVE_INTEGER &&
        o.via.u64 <= static_cast<std::uint64_t>(INT64_MAX)) {
      out = static_cast<std::int64_t>(o.via.u64);
      return Status::Ok();
    }
    return Bad(name, "is not a 64-bit signed integer");
  }

  Status Str(std::size_t i, std::string_view name, std::size_t max_len, std::string& out) const {
    return StrOf(at(i), name, max_len, out);
  }

  Status StrOf(const msgpack::object& o, std::string_view name, std::size_t max_len,
               std::string& out) const {
    if (o.type != msgpack::type::STR) return Bad(name, "is not a string");
    if (o.via.str.size > max_len)
      return Bad(name, "is longer than " + std::to_string(max_len) + " bytes");
    out.assign(o.via.str.ptr, o.via.str.size);
    return Status::Ok();
  }

  template <std::size_t N>
  Status Bin(std::size_t i, std::string_view name, std::array<std::uint8_t, N>& out) const {
    return BinRaw(i, name, out.data(), N);
  }

  Status BinRaw(std::size_t i, std::string_view name, std::uint8_t* out, std::size_t n) const {
    const auto& o = at(i);
    if (o.type != msgpack::type::BIN) return Bad(name, "is not binary");
    if (o.via.bin.size != n) {
      return Bad(name,
                 "is " + std::to_string(o.via.bin.size) + " bytes, expected " + std::to_string(n));
    }
    std::memcpy(out, o.via.bin.ptr, n);
    return Status::Ok();
  }

  Status Bad(std::string_view name, std::string_view what) const {
    return Status::Corrupt(op_, std::string(name) + " " + std::string(what));
  }

 private:
  std::string_view op_;
  const msgpack::object& array_;
};

}  // namespace mesh::internal
