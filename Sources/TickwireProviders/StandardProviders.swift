import TickwireCore

extension Registry {
    /// Every provider adapter and channel auth type shipped with Tickwire: one line each.
    public mutating func registerStandardProviders() {
        register(provider: GupshupAdapter.self)
        register(provider: MetaAdapter.self)
        register(provider: TwilioAdapter.self)
        register(provider: UnifonicAdapter.self)

        register(auth: TokenAuthenticator.self)
        register(auth: BasicAuthenticator.self)
        register(auth: NoAuthenticator.self)
        register(auth: MetaSignatureAuthenticator.self)
        register(auth: TwilioSignatureAuthenticator.self)
    }
}
