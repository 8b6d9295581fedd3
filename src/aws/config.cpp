// Region, credentials and endpoint resolution (see courier/aws/config.hpp).
#include "courier/aws/config.hpp"

#include "courier/aws/error.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace courier {
inline namespace v1 {
namespace aws {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

using section = std::map<std::string, std::string>;

// The key = value pairs of one [section] of an AWS ini file, if the file and
// the section exist. Comments (# or ;) and blank lines are skipped.
std::optional<section> read_section(const std::string& path, const std::string& wanted) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::optional<section> found;
  bool inside = false;
  std::string line;
  while (std::getline(file, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      inside = trim(line.substr(1, line.size() - 2)) == wanted;
      if (inside && !found) found.emplace();
      continue;
    }
    if (!inside) continue;
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    (*found)[trim(line.substr(0, equals))] = trim(line.substr(equals + 1));
  }
  return found;
}

std::string home_file(const char* override_variable, const char* name) {
  std::string path = env(override_variable);
  if (!path.empty()) return path;
  const std::string home = env("HOME");
  return home.empty() ? std::string() : home + "/.aws/" + name;
}

std::string value_of(const std::optional<section>& s, const char* key) {
  if (!s) return {};
  const auto found = s->find(key);
  return found == s->end() ? std::string() : found->second;
}

// AWS_ENDPOINT_URL_<ID>: the service id upper-cased, spaces as underscores.
std::string endpoint_variable(std::string_view service_id) {
  std::string name = "AWS_ENDPOINT_URL_";
  for (const char c : service_id)
    name += c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

config config::resolve(const config& explicit_settings, const service& for_service) {
  config out = explicit_settings;
  if (out.profile.empty()) out.profile = env("AWS_PROFILE");
  if (out.profile.empty()) out.profile = "default";

  const std::string config_path = home_file("AWS_CONFIG_FILE", "config");
  const std::string credentials_path = home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  // ~/.aws/config names profiles "[profile x]", except "[default]".
  const auto profile_config =
      read_section(config_path, out.profile == "default" ? std::string("default") : "profile " + out.profile);

  if (out.region.empty()) out.region = env("AWS_REGION");
  if (out.region.empty()) out.region = env("AWS_DEFAULT_REGION");
  if (out.region.empty()) out.region = value_of(profile_config, "region");
  if (out.region.empty()) {
    throw error(std::string(for_service.id), "configuration", "MissingConfiguration",
                "no region: set config::region, AWS_REGION or AWS_DEFAULT_REGION, or `region` in profile " +
                    out.profile + " of " + config_path);
  }

  if (out.keys.access_key_id.empty()) {
    credentials from_env{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
    if (!from_env.access_key_id.empty() && !from_env.secret_access_key.empty()) {
      out.keys = from_env;
    } else {
      for (const auto& source : {read_section(credentials_path, out.profile), profile_config}) {
        credentials from_file{value_of(source, "aws_access_key_id"),
                              value_of(source, "aws_secret_access_key"),
                              value_of(source, "aws_session_token")};
        if (!from_file.access_key_id.empty() && !from_file.secret_access_key.empty()) {
          out.keys = from_file;
          break;
        }
      }
    }
  }
  if (out.keys.access_key_id.empty() || out.keys.secret_access_key.empty()) {
    throw error(std::string(for_service.id), "configuration", "MissingConfiguration",
                "no credentials: set config::keys, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile " +
                    out.profile + " in " + credentials_path);
  }

  if (out.endpoint.empty()) out.endpoint = env(endpoint_variable(for_service.id).c_str());
  if (out.endpoint.empty()) out.endpoint = env("AWS_ENDPOINT_URL");
  if (out.endpoint.empty())
    out.endpoint = "https://" + std::string(for_service.signing_name) + "." + out.region + ".amazonaws.com";
  while (!out.endpoint.empty() && out.endpoint.back() == '/') out.endpoint.pop_back();
  return out;
}

}  // namespace aws
}  // namespace v1
}  // namespace courier
