import Foundation
import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads `config.yaml` and the files its `include:` globs name, merges them and checks
/// the result. Every error names the file, the line and the key path.
public struct ConfigLoader: Sendable {
    public var registry: Registry
    public var environment: [String: String]

    public static let defaultIncludes = ["plugins.d/*.yaml"]

    public init(registry: Registry, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.registry = registry
        self.environment = environment
    }

    /// Loads and validates; throws `ConfigErrors` with every problem found.
    public func load(path: String) throws(ConfigErrors) -> Config {
        let main: ConfigFile
        do {
            main = try decodeFile(path)
        } catch {
            throw ConfigErrors([error])
        }
        var files = [main]
        var errors: [ConfigError] = []
        // Each file is read once, however many patterns name it (and the main file never
        // again): overlapping globs made every name in it "defined twice", in one file.
        var read: Set<String> = [Self.realPath(path)]
        let directory = (path as NSString).deletingLastPathComponent
        for pattern in main.include ?? Self.defaultIncludes {
            let absolute = pattern.hasPrefix("/") ? pattern : (directory.isEmpty ? pattern : directory + "/" + pattern)
            let matches: [String]
            switch Self.glob(absolute) {
            case .success(let found):
                matches = found
            case .failure(let problem):
                // A file the main config names that is not there would drop its orgs, and a
                // reload would retire their subscriptions: an error, not nothing.
                errors.append(ConfigError(file: path, line: nil, path: "include", message: "\"\(pattern)\": \(problem.message)"))
                continue
            }
            for match in matches where read.insert(Self.realPath(match)).inserted {
                do {
                    let file = try decodeFile(match)
                    if file.include != nil {
                        errors.append(ConfigError(file: match, line: nil, path: "include", message: "include is read from the main config file only"))
                    }
                    files.append(file)
                } catch {
                    errors.append(error)
                }
            }
        }
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        return try merge(files)
    }

    /// Decodes one file on its own, as the merged schema but without cross-file checks.
    func decodeFile(_ path: String) throws(ConfigError) -> ConfigFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, line: nil, path: "", message: "cannot read the file: \(Self.reason(error))")
        }
        do {
            guard let node = try Yams.compose(yaml: text, Resolver.basic) else {
                return ConfigFile(path: path)
            }
            var decoder = YAMLNodeDecoder(file: path, environment: environment)
            decoder.userInfo[.registry] = registry
            var (file, defaults) = try decoder.decode(ConfigFile.self, from: node)
            file.path = path
            file.defaults = defaults
            return file
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw Self.syntaxError(error, file: path)
        } catch {
            throw ConfigError(file: path, line: nil, path: "", message: "\(error)")
        }
    }

    private func merge(_ files: [ConfigFile]) throws(ConfigErrors) -> Config {
        var errors: [ConfigError] = []
        func single<T>(_ key: String, _ pick: (ConfigFile) -> T?) -> T? {
            let defining = files.filter { pick($0) != nil }
            if defining.count > 1 {
                errors.append(ConfigError(
                    file: defining[1].path, line: nil, path: key,
                    message: "\"\(key)\" is defined in \(defining.map(\.path).joined(separator: " and ")); define it once"))
            }
            return defining.first.flatMap(pick)
        }
        let server = single("server", \.server) ?? ServerConfig()
        let storage = single("storage", \.storage) ?? StorageConfig()
        let logging = single("logging", \.logging) ?? LoggingConfig()

        var sinks: [String: SinkDefinition] = [:]
        var orgs: [String: OrgConfig] = [:]
        for file in files {
            for (name, sink) in file.sinks ?? [:] {
                if let other = sinks[name] {
                    errors.append(sink.location.error("sink \"\(name)\" is defined in \(other.location) and \(sink.location)"))
                } else {
                    sinks[name] = sink
                }
            }
            for (name, org) in file.orgs ?? [:] {
                if let other = orgs[name] {
                    errors.append(org.location.error("org \"\(name)\" is defined in \(other.location) and \(org.location)"))
                } else {
                    orgs[name] = org
                }
            }
        }
        errors += Self.checkReferences(orgs: orgs, sinks: sinks)
        // Secrets that took the default written beside them: refused beyond loopback, named
        // for the daemon's warning on it.
        let defaultedSecrets = files.flatMap(\.defaults).filter(\.isSecret)
        if !server.listensOnLoopbackOnly {
            errors += Self.refusals(of: defaultedSecrets, listen: server.listen)
        }
        guard errors.isEmpty else { throw ConfigErrors(errors.sorted { ($0.file, $0.line ?? 0) < ($1.file, $1.line ?? 0) }) }
        for name in orgs.keys {
            orgs[name]!.keepsRawPayload = orgs[name]!.subscriptions.contains { sinks[$0.sink]?.needsRawPayload == true }
        }
        var config = Config(server: server, storage: storage, logging: logging, sinks: sinks, orgs: orgs, files: files.map(\.path))
        config.defaultedSecrets = defaultedSecrets.sorted { ($0.file, $0.line ?? 0) < ($1.file, $1.line ?? 0) }.map { value in
            "\(value.file):\(value.line.map(String.init) ?? "?") \(value.path) (set \(value.variable))"
        }
        return config
    }

    /// A secret that took the default written beside it in the file is known to anyone
    /// who can read the file (config.yaml's demo org is published): refused while the
    /// daemon can be reached from beyond this machine.
    static func refusals(of defaultedSecrets: [DefaultedValue], listen: String) -> [ConfigError] {
        defaultedSecrets.map { value in
            ConfigError(
                file: value.file, line: value.line, path: value.path,
                message: "${\(value.variable)} is not set, and its default is written in the file: "
                    + "a secret anyone who reads the file knows, while server.listen (\(listen)) is reachable from other machines; set \(value.variable)")
        }
    }

    /// Subscriptions name existing sinks and channels; names are unique within an org;
    /// an API key belongs to one org only (a shared key would read two orgs' data).
    static func checkReferences(orgs: [String: OrgConfig], sinks: [String: SinkDefinition]) -> [ConfigError] {
        var errors: [ConfigError] = []
        var keyOwners: [String: String] = [:]
        for org in orgs.values.sorted(by: { $0.name < $1.name }) {
            var seen: Set<String> = []
            for subscription in org.subscriptions {
                if sinks[subscription.sink] == nil {
                    errors.append(subscription.location.error(
                        "sink \"\(subscription.sink)\" is not defined (defined: \(sinks.keys.sorted().joined(separator: ", ")))",
                        path: subscription.location.path + ".sink"))
                }
                for channel in subscription.channels ?? [] where org.channels[channel] == nil {
                    errors.append(subscription.location.error(
                        "channel \"\(channel)\" is not a channel of org \"\(org.name)\"", path: subscription.location.path + ".channels"))
                }
                if !seen.insert(subscription.name).inserted {
                    errors.append(subscription.location.error(
                        "two subscriptions of org \"\(org.name)\" are named \"\(subscription.name)\": give one a distinct `name:`"))
                }
            }
            let stores = org.subscriptions.filter { sinks[$0.sink]?.answersStatusQueries == true }
            if stores.count > 1, let second = stores.dropFirst().first {
                errors.append(second.location.error(
                    "org \"\(org.name)\" subscribes to more than one status store (\(stores.map { "\"\($0.sink)\"" }.joined(separator: ", "))); "
                        + "its API reads one: keep one subscription to a sqlite sink"))
            }
            for key in org.apiKeys {
                if let owner = keyOwners[key], owner != org.name {
                    errors.append(org.location.error("an API key of org \"\(org.name)\" is also a key of org \"\(owner)\"", path: org.location.path + ".api_keys"))
                }
                keyOwners[key] = org.name
            }
        }
        return errors
    }

    struct GlobProblem: Error {
        var message: String
    }

    /// The files `pattern` names, sorted. A pattern with wildcards may name none (an empty
    /// `plugins.d`); one without names a file that must exist.
    static func glob(_ pattern: String) -> Result<[String], GlobProblem> {
        var result = glob_t()
        defer { globfree(&result) }
        switch Glibc.glob(pattern, 0, nil, &result) {
        case 0:
            return .success((0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted())
        case GLOB_NOMATCH where pattern.contains(where: { "*?[".contains($0) }):
            return .success([])
        case GLOB_NOMATCH:
            return .failure(GlobProblem(message: "no such file"))
        default:
            return .failure(GlobProblem(message: "cannot list the files it names"))
        }
    }

    /// The file's path with links and `.`/`..` resolved; the path itself if that fails.
    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func syntaxError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, path: "", message: "YAML syntax: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // context.text is the whole document: never print it (it may hold secrets).
            return ConfigError(file: file, line: context.mark.line, path: "", message: "duplicate key \(duplicates.map { "\"\($0)\"" }.joined(separator: ", "))")
        default:
            return ConfigError(file: file, line: nil, path: "", message: "YAML: cannot parse the file")
        }
    }

    static func reason(_ error: Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }
}

/// One file's contents; every file has the same schema.
struct ConfigFile: Decodable {
    var path: String = ""
    /// Values that took the default of their `${VAR:-default}`.
    var defaults: [DefaultedValue] = []
    var server: ServerConfig?
    var storage: StorageConfig?
    var logging: LoggingConfig?
    var include: [String]?
    var sinks: [String: SinkDefinition]?
    var orgs: [String: OrgConfig]?

    init(path: String) {
        self.path = path
    }

    enum CodingKeys: String, CodingKey { case server, storage, logging, include, sinks, orgs }
}
