// Package federation is SPIFFE federation for lanyard-server: the bundle endpoint that
// serves this trust domain's bundle (https_web or https_spiffe profile), and the refresher
// that fetches each federated partner's bundle from its endpoint, honouring the partner's
// spiffe_refresh_hint, keeping the last good bundle when a fetch fails, and storing it so
// agents deliver it to workloads whose entries federate with that trust domain.
package federation
