// Tokenizer for Hugging Face tokenizer.json files (BPE models: byte-level like Llama 3 / Qwen2 /
// GPT-2, and SentencePiece-style like Llama 2 / Mistral / Phi-3), plus tokenizer_config.json.
//
// Pipeline (matching Hugging Face tokenizers 0.23): added tokens are split out of the raw text
// (non-normalized ones first, then normalized ones after normalization), the rest is normalized,
// pre-tokenized and run through the BPE model; TemplateProcessing adds BOS/EOS when asked.
//
// Thread-safety: a loaded Tokenizer is immutable apart from an internal word cache guarded by a
// mutex, so all const methods may be called from several threads at once. Tokenizer is movable
// (not copyable). IncrementalDecoder is a per-stream object: one thread at a time.
//
// Errors: load() returns a Status naming the file and the problem (unreadable file, invalid JSON,
// unsupported model/normalizer/pre-tokenizer/decoder type, merges that reference tokens missing
// from the vocab, ...). encode()/decode() never fail: invalid UTF-8 input is repaired (each
// ill-formed subsequence becomes U+FFFD) and unknown ids are skipped when decoding.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lpx {

// Values from tokenizer_config.json (all optional). When no config file is given (or a field is
// missing), add_bos/add_eos are inferred from the tokenizer.json post-processor and bos/eos tokens
// from it (bos) or from well-known names (eos: "</s>", "<|end_of_text|>", "<|endoftext|>").
struct TokenizerConfig {
  std::string bos_token, eos_token, unk_token, pad_token;
  bool add_bos = false;
  bool add_eos = false;
  // The default chat template ("" if none). A list-form chat_template sets this from the entry
  // named "default" and puts every entry into named_templates.
  std::string chat_template;
  std::map<std::string, std::string> named_templates;
  bool loaded_from_file = false;  // true when a tokenizer_config.json was read
};

// Ids plus the token strings Hugging Face reports for them (added tokens report the matched text,
// including whitespace swallowed by lstrip/rstrip).
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
};

class Tokenizer {
 public:
  // tokenizer_json: path to tokenizer.json. config_json: path to tokenizer_config.json, or "" for
  // none. If the config has no chat_template but a chat_template.jinja lies beside it, that file
  // is used as the default template.
  static Result<Tokenizer> load(const std::string& tokenizer_json, const std::string& config_json = "");
  // Same, from in-memory JSON text; `name` is used in error messages in place of a file name.
  static Result<Tokenizer> from_json(std::string_view tokenizer_json_text, const std::string& name,
                                     std::string_view config_json_text = "");

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special_tokens: apply tokenizer.json's post-processor (e.g. TemplateProcessing's BOS), as
  // Hugging Face does; config().add_bos/add_eos are informational and do not change encode().
  // Added/special tokens written in `text` are always recognised (chat prompts rely on it).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  Encoding encode_with_tokens(std::string_view text, bool add_special_tokens) const;
  // skip_special_tokens: drop added tokens flagged special. Ids outside the vocab are skipped.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  int32_t vocab_size() const;  // including added tokens (max id + 1)
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // raw vocab / added-token string, "" if unknown
  bool is_special(int32_t id) const;          // an added token with special=true
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  const TokenizerConfig& config() const;

  struct Impl;  // opaque; defined in tokenizer.cpp

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Streaming decoder: push ids one at a time, get back the text they complete. Never returns a
// partial UTF-8 character (bytes of an unfinished character are held until it completes), and the
// concatenation of all push() results plus flush() equals tokenizer.decode(all ids). Text ending
// in U+FFFD is held back as a possibly unfinished character, except after 16 such ids in a row
// (then it is invalid bytes and is emitted as U+FFFD).
// The Tokenizer must outlive the decoder. Not thread-safe (one stream, one thread at a time).
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);
  std::string push(int32_t id);
  // Returns whatever is still held back (possibly ending in U+FFFD for a truncated character) and
  // resets the decoder for a new stream.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::vector<int32_t> ids_;  // context window: ids_[0, prefix_index_) are already emitted
  std::string prefix_;        // decode(ids_[0, prefix_index_))
  size_t prefix_index_ = 0;
};

}  // namespace lpx
