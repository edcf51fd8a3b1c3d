// Package broker is lanyard-agent's SPIFFE Broker Endpoint (off unless broker_api is
// set): the SPIFFE Broker API, over mutual TLS, for infrastructure components (brokers)
// named in authorized_brokers that act for workloads they reference (a
// WorkloadPIDReference: a process on this node, which the agent attests itself).
package broker
