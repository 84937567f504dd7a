// Test helpers that hand-write archive bytes: a stored zip in the torch.save layout, a tiny pickle
// writer (torch tensors via _rebuild_tensor_v2), and ustar/GNU/pax tar headers. Shared by the
// format reader tests and the LoRA loader tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "formats/zip_reader.h"

namespace lpx::testutil {

// ---- a tiny stored-zip writer (torch layout) ----
inline void put16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v & 0xFF));
  s->push_back(static_cast<char>((v >> 8) & 0xFF));
}
inline void put32(std::string* s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}
inline std::string build_zip(const std::vector<std::pair<std::string, std::string>>& members) {
  std::string out, cd;
  for (const auto& [name, data] : members) {
    const uint32_t crc = crc32_update(0, reinterpret_cast<const uint8_t*>(data.data()), data.size());
    const uint32_t off = static_cast<uint32_t>(out.size());
    for (std::string* s : {&out, &cd}) {
      const bool central = s == &cd;
      put32(s, central ? 0x02014b50 : 0x04034b50);
      if (central) put16(s, 20);
      for (uint32_t v : {20u, 0u, 0u, 0u, 0u}) put16(s, v);
      put32(s, crc);
      put32(s, static_cast<uint32_t>(data.size()));
      put32(s, static_cast<uint32_t>(data.size()));
      put16(s, static_cast<uint32_t>(name.size()));
      put16(s, 0);
      if (central) {
        for (int i = 0; i < 3; ++i) put16(s, 0);
        put32(s, 0);
        put32(s, off);
      }
      *s += name;
      if (!central) *s += data;
    }
  }
  const uint32_t cd_off = static_cast<uint32_t>(out.size());
  out += cd;
  put32(&out, 0x06054b50);
  put16(&out, 0);
  put16(&out, 0);
  put16(&out, static_cast<uint32_t>(members.size()));
  put16(&out, static_cast<uint32_t>(members.size()));
  put32(&out, static_cast<uint32_t>(cd.size()));
  put32(&out, cd_off);
  put16(&out, 0);
  return out;
}

// ---- a tiny pickle writer ----
struct Pk {
  std::string b = "\x80\x02";
  Pk& op(uint8_t c) {
    b.push_back(static_cast<char>(c));
    return *this;
  }
  Pk& raw(const std::string& s) {
    b += s;
    return *this;
  }
  Pk& mark() { return op('('); }
  Pk& str(const std::string& s) {
    op('X');
    put32(&b, static_cast<uint32_t>(s.size()));
    return raw(s);
  }
  Pk& i32(int32_t v) {
    op('J');
    put32(&b, static_cast<uint32_t>(v));
    return *this;
  }
  Pk& global(const std::string& mod, const std::string& name) { return op('c').raw(mod + "\n" + name + "\n"); }
  Pk& tuple_of(const std::vector<int64_t>& v) {
    mark();
    for (int64_t x : v) i32(static_cast<int32_t>(x));
    return op('t');
  }
  // _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())
  Pk& tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset,
             const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    mark().str("storage").global("torch", type).str(key).str("cpu").i32(static_cast<int32_t>(numel)).op('t').op('Q');
    i32(static_cast<int32_t>(offset)).tuple_of(size).tuple_of(stride).op(0x89);
    global("collections", "OrderedDict").op(')').op('R');
    return op('t').op('R');
  }
  std::string stop() { return b + "."; }
};

inline std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.begin(), s.size());
  return s;
}

// A checkpoint zip: archive/data.pkl + archive/data/<key> members.
inline std::string make_ckpt(const std::string& pickle,
                             const std::vector<std::pair<std::string, std::string>>& storages,
                             const std::string& byteorder = "") {
  std::vector<std::pair<std::string, std::string>> m{{"archive/data.pkl", pickle}};
  if (!byteorder.empty()) m.push_back({"archive/byteorder", byteorder});
  for (const auto& [k, v] : storages) m.push_back({"archive/data/" + k, v});
  m.push_back({"archive/version", "3\n"});
  return build_zip(m);
}

// ---- tar ----
inline void put_octal(std::string* h, size_t at, size_t width, uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(v));
  std::memcpy(h->data() + at, buf, width - 1);
  (*h)[at + width - 1] = '\0';
}

// Recomputes and stores the checksum of a 512-byte header at `at`.
inline void fix_checksum(std::string* t, size_t at) {
  std::memset(t->data() + at + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += static_cast<uint8_t>((*t)[at + i]);
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%06o", sum);
  std::memcpy(t->data() + at + 148, buf, 6);
  (*t)[at + 154] = '\0';
  (*t)[at + 155] = ' ';
}

struct Hdr {
  std::string name;
  uint64_t size = 0;
  char type = '0';
  std::string link;
  std::string prefix;
  bool ustar = true;
};

inline std::string header(const Hdr& h) {
  std::string b(512, '\0');
  std::memcpy(b.data(), h.name.data(), std::min<size_t>(h.name.size(), 100));
  put_octal(&b, 100, 8, 0644);
  put_octal(&b, 108, 8, 0);
  put_octal(&b, 116, 8, 0);
  put_octal(&b, 124, 12, h.size);
  put_octal(&b, 136, 12, 1764028800);
  b[156] = h.type;
  std::memcpy(b.data() + 157, h.link.data(), std::min<size_t>(h.link.size(), 100));
  if (h.ustar) {
    std::memcpy(b.data() + 257,
                "ustar\0"
                "00",
                8);
    std::memcpy(b.data() + 345, h.prefix.data(), std::min<size_t>(h.prefix.size(), 155));
  }
  fix_checksum(&b, 0);
  return b;
}

inline std::string pad(const std::string& data) { return data + std::string((512 - data.size() % 512) % 512, '\0'); }

inline std::string member(const std::string& name, const std::string& data, char type = '0') {
  return header({name, data.size(), type, "", "", true}) + pad(data);
}

inline std::string pax_record(const std::string& key, const std::string& value) {
  const std::string body = " " + key + "=" + value + "\n";
  size_t len = body.size() + 1;
  while (std::to_string(len).size() + body.size() != len) ++len;
  return std::to_string(len) + body;
}

inline const std::string kEnd(1024, '\0');  // end-of-archive marker

}  // namespace lpx::testutil
