package manager

import (
	"context"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc"

	"github.com/lanyard-dev/lanyard/agent/client"
	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
)

// watchStream is one push stream and the goroutine reading it.
type watchStream struct {
	client *client.Client
	cancel context.CancelFunc
	msgs   chan watchMsg
	done   chan struct{}
}

type watchMsg struct {
	resp *syncv1.WatchResponse
	err  error // the stream ended; nothing follows
}

// openWatch starts a stream on c. It waits for the connection to be ready rather than
// failing while the server is down, so the stream resumes as soon as gRPC reconnects.
func openWatch(ctx context.Context, c *client.Client) *watchStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &watchStream{client: c, cancel: cancel, msgs: make(chan watchMsg), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		stream, err := c.Sync.Watch(ctx, &syncv1.WatchRequest{}, grpc.WaitForReady(true))
		for err == nil {
			var resp *syncv1.WatchResponse
			if resp, err = stream.Recv(); err == nil {
				select {
				case s.msgs <- watchMsg{resp: resp}:
				case <-ctx.Done():
					return
				}
			}
		}
		select {
		case s.msgs <- watchMsg{err: err}:
		case <-ctx.Done():
		}
	}()
	return s
}

// stop ends the stream and waits for its reader.
func (s *watchStream) stop() {
	s.cancel()
	<-s.done
}

// watch follows the push stream until it fails, moving it to a new connection when the
// agent SVID is renewed (Config.Switched). delivered is called for every message.
func (m *Manager) watch(ctx context.Context, delivered func()) error {
	cur := openWatch(ctx, m.cfg.Client())
	var next *watchStream
	defer func() {
		cur.stop()
		if next != nil {
			next.stop()
		}
	}()
	var set fullSet
	for {
		var nextMsgs chan watchMsg
		if next != nil {
			nextMsgs = next.msgs
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.cfg.Switched:
			if next != nil {
				next.stop()
			}
			next = openWatch(ctx, m.cfg.Client())
		case msg := <-cur.msgs:
			if msg.err == nil {
				delivered()
				m.handle(&set, msg.resp)
				continue
			}
			if next == nil && cur.client == m.cfg.Client() {
				return msg.err
			}
			// The stream of a replaced connection ended, e.g. because the server retired its
			// SVID when the renewed one was first used: that is no rejection of the agent.
			if next == nil {
				next = openWatch(ctx, m.cfg.Client())
			}
			cur.stop()
			cur, next, set = next, nil, fullSet{}
		case msg := <-nextMsgs:
			cur.stop()
			cur, next, set = next, nil, fullSet{}
			if msg.err != nil {
				return msg.err
			}
			m.cfg.OnHandover()
			delivered()
			m.handle(&set, msg.resp)
		}
	}
}

// fullSet collects a complete set of entries sent over several messages.
type fullSet struct {
	entries []*types.Entry
	open    bool
}

// handle applies one stream message.
func (m *Manager) handle(set *fullSet, resp *syncv1.WatchResponse) {
	if resp.Bundle != nil {
		m.setBundle(resp.Bundle)
	}
	if resp.FederatedBundlesSet {
		m.setFederated(resp.FederatedBundles)
	}
	switch {
	case resp.Full:
		set.entries, set.open = append([]*types.Entry(nil), resp.Upserted...), resp.More
	case set.open:
		set.entries, set.open = append(set.entries, resp.Upserted...), resp.More
	default:
		m.apply(resp.Upserted, resp.DeletedIds, false)
		return
	}
	if !set.open {
		m.apply(set.entries, nil, true)
		set.entries = nil
	}
}
