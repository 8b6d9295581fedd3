// Base64 both ways (include/courier/detail/base64.hpp): the RFC 4648 §10
// vectors, padded and as unpadded base64url, and what decoding refuses.
#include "courier/detail/base64.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using courier::detail::base64_decode;
using courier::detail::base64_encode;
using courier::detail::base64_form;

TEST(base64, the_rfc_4648_vectors_padded_and_url_unpadded) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [bytes, text] : vectors) {
    EXPECT_EQ(base64_encode(bytes), text);
    EXPECT_EQ(base64_decode(text), bytes);
    EXPECT_EQ(base64_encode(bytes, base64_form::url_unpadded), text.substr(0, text.find('=')));
  }
}

TEST(base64, the_url_form_uses_dash_and_underscore) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(base64_encode(bytes), "+/+/");
  EXPECT_EQ(base64_encode(bytes, base64_form::url_unpadded), "-_-_");
}

TEST(base64, decoding_refuses_what_is_not_padded_base64) {
  for (const char* text : {"Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "-_-_"}) {
    EXPECT_EQ(base64_decode(text), std::nullopt) << text;
  }
}

}  // namespace
