// Parity tests for chat templates: every record of the Jinja2 (transformers environment) goldens must be
// reproduced exactly (or fail where Jinja2 raised), plus render_chat, thread-safety and error cases.
#include "text/chat_template.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace lpx {
namespace {

using ojson = nlohmann::ordered_json;

const std::string kDir = std::string(LPX_SHARED_DIR) + "/testdata/chat_templates";

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Goldens name templates "ortx-<name>" for files templates/<name>.jinja.
std::string template_path(const std::string& id) {
  std::string p = kDir + "/templates/" + id + ".jinja";
  if (std::ifstream(p).good()) return p;
  if (id.rfind("ortx-", 0) == 0) return kDir + "/templates/" + id.substr(5) + ".jinja";
  return p;
}

// The goldens were rendered on 2026-11-25 with datetime.now(); pin strftime_now to that date.
jinja::RenderOptions golden_render_options() {
  jinja::RenderOptions o;
  o.now_unix_seconds = 1795608000;  // 2026-11-25 12:00:00 UTC
  o.utc = true;
  return o;
}

TEST(ChatTemplateGoldens, AllRecordsMatchJinja2) {
  std::ifstream f(kDir + "/goldens.jinja2-hf-env.jsonl");
  ASSERT_TRUE(f.good()) << "missing goldens file";
  std::map<std::string, ChatTemplate> cache;
  int total = 0, passed = 0, rendered = 0, errors = 0;
  std::vector<std::string> failures;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    ojson rec = ojson::parse(line);
    ++total;
    const std::string id = rec["template_id"].get<std::string>();
    const std::string label = id + " / " + rec["case"].get<std::string>();
    auto it = cache.find(id);
    if (it == cache.end()) {
      auto parsed = ChatTemplate::parse(read_text(template_path(id)));
      if (!parsed.is_ok()) {
        failures.push_back(label + ": parse failed: " + parsed.status().to_string());
        continue;
      }
      it = cache.emplace(id, std::move(parsed).value()).first;
    }
    ojson ctx = ojson::object();
    ctx["messages"] = rec["messages"];
    ctx["tools"] = rec.contains("tools") ? rec["tools"] : ojson();
    ctx["documents"] = nullptr;
    ctx["add_generation_prompt"] = rec["add_generation_prompt"];
    for (auto e = rec["extra_context"].begin(); e != rec["extra_context"].end(); ++e) ctx[e.key()] = e.value();
    auto out = it->second.render(ctx, golden_render_options());
    if (rec.contains("expected") && !rec["expected"].is_null()) {
      const std::string expected = rec["expected"].get<std::string>();
      if (!out.is_ok()) {
        failures.push_back(label + ": render failed: " + out.status().to_string());
      } else if (*out != expected) {
        failures.push_back(label + ": output differs\n--- expected ---\n" + expected + "\n--- got ---\n" + *out);
      } else {
        ++passed;
        ++rendered;
      }
    } else {
      const std::string expected_error = rec["expected_error"].get<std::string>();
      if (out.is_ok()) {
        failures.push_back(label + ": expected error '" + expected_error + "' but rendered:\n" + *out);
      } else if (out.status().message().find(expected_error) == std::string::npos) {
        failures.push_back(label + ": error differs: expected '" + expected_error + "', got '" +
                           out.status().message() + "'");
      } else {
        ++passed;
        ++errors;
      }
    }
  }
  std::printf("[chat goldens] %d/%d passed (%d rendered exactly, %d expected errors reproduced)\n", passed, total,
              rendered, errors);
  for (size_t i = 0; i < failures.size() && i < 10; ++i) ADD_FAILURE() << failures[i];
  EXPECT_EQ(passed, total);
  EXPECT_EQ(total, 364);
}

TEST(ChatTemplate, RenderChatConvenience) {
  auto t = ChatTemplate::parse(
      "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}{{ eos_token }}\n{% endfor %}"
      "{% if add_generation_prompt %}<|assistant|>{% endif %}{% if tools is not none %}[{{ tools | tojson }}]{% endif "
      "%}"
      "{{ date_string | default('?') }}");
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  ojson messages = ojson::parse(R"([{"role":"user","content":"  hi  "},{"role":"assistant","content":"yo"}])");
  ChatRenderOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  auto out = render_chat(*t, messages, o);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(*out, "<s><|user|>hi</s>\n<|assistant|>yo</s>\n<|assistant|>?");
  o.add_generation_prompt = false;
  o.tools = ojson::parse(R"([{"type":"function","function":{"name":"f","parameters":{"z":1,"a":2}}}])");
  o.extra = ojson::parse(R"({"date_string":"26 Jul 2024"})");
  out = render_chat(*t, messages, o);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(*out,
            "<s><|user|>hi</s>\n<|assistant|>yo</s>\n"
            "[[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"z\": 1, \"a\": 2}}}]]"
            "26 Jul 2024");
  EXPECT_FALSE(render_chat(*t, ojson::object(), o).is_ok());
}

TEST(ChatTemplate, StrftimeNowUsesInjectedClock) {
  auto t = ChatTemplate::parse("{{ strftime_now('%Y-%m-%d|%d %B %Y|%b') }}");
  ASSERT_TRUE(t.is_ok());
  auto out = t->render(ojson::object(), golden_render_options());
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(*out, "2026-11-25|25 November 2026|Nov");
}

TEST(ChatTemplate, RaiseExceptionIsARenderError) {
  auto t =
      ChatTemplate::parse("a\n{% if messages[0].role == 'system' %}{{ raise_exception('No system!') }}{% endif %}b");
  ASSERT_TRUE(t.is_ok());
  auto out = t->render(ojson::parse(R"({"messages":[{"role":"system","content":"x"}]})"));
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("TemplateError: No system!"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find("line 2"), std::string::npos) << out.status().message();
}

TEST(ChatTemplate, SyntaxErrorsNameTheLine) {
  auto t = ChatTemplate::parse("ok\n{% for x in y %}\n{{ x }\n{% endfor %}");
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("line 3"), std::string::npos) << t.status().message();
  auto u = ChatTemplate::parse("{% if a %}\n\n{% endfor %}");
  ASSERT_FALSE(u.is_ok());
  auto v = ChatTemplate::parse("line1\n{% include 'other.jinja' %}");
  ASSERT_FALSE(v.is_ok());
  EXPECT_EQ(v.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(v.status().message().find("line 2"), std::string::npos) << v.status().message();
  auto w = ChatTemplate::parse("{{ x | no_such_filter }}");
  ASSERT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find("no_such_filter"), std::string::npos);
}

TEST(ChatTemplate, SandboxLimits) {
  // Runaway loops, recursion and output are stopped with a clear error instead of hanging.
  auto loops = ChatTemplate::parse("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}");
  ASSERT_TRUE(loops.is_ok());
  auto out = loops->render(ojson::object());
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(out.status().message().find("iteration limit"), std::string::npos) << out.status().message();

  auto rec = ChatTemplate::parse("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ASSERT_TRUE(rec.is_ok());
  out = rec->render(ojson::object());
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("RecursionError"), std::string::npos) << out.status().message();

  auto big = ChatTemplate::parse("{% set s = 'x' * 1000 %}{% for i in range(100000) %}{{ s }}{% endfor %}");
  ASSERT_TRUE(big.is_ok());
  jinja::RenderOptions small;
  small.limits.max_output_bytes = 1 << 20;
  out = big->render(ojson::object(), small);
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);

  auto range = ChatTemplate::parse("{{ range(1000000) | length }}");
  ASSERT_TRUE(range.is_ok());
  out = range->render(ojson::object());
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("MAX_RANGE"), std::string::npos) << out.status().message();

  auto doubling = ChatTemplate::parse(
      "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}");
  ASSERT_TRUE(doubling.is_ok());
  out = doubling->render(ojson::object());
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
}

TEST(ChatTemplate, ImmutableSandboxBlocksMutation) {
  auto t = ChatTemplate::parse("{% set x = [] %}{{ x.append(1) }}");
  ASSERT_TRUE(t.is_ok());
  auto out = t->render(ojson::object());
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("SecurityError: access to attribute 'append' of 'list' object is unsafe."),
            std::string::npos)
      << out.status().message();
}

TEST(ChatTemplate, ConcurrentRendersShareOneTemplate) {
  auto t = ChatTemplate::parse(read_text(template_path("ortx-qwen3")));
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  const ChatTemplate shared = *t;  // copies share the parsed tree
  ojson ctx =
      ojson::parse(R"({"messages":[{"role":"user","content":"hi"}],"add_generation_prompt":true,"tools":null})");
  auto reference = shared.render(ctx);
  ASSERT_TRUE(reference.is_ok()) << reference.status().to_string();
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 50; ++k) {
        auto r = shared.render(ctx);
        if (r.is_ok() && *r == *reference) ++ok[i];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(ok[i], 50);
}

}  // namespace
}  // namespace lpx
