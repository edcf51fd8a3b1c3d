package admin

import (
	"context"
	"strconv"

	delegatedv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/delegatedidentity/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// PiecesHeader is request metadata a SubscribeToX509SVIDs client sends to get each update
// in pieces no larger than the value (in bytes; at least MinPieceSize), for a client that
// keeps gRPC's default 4 MiB receive limit or any other. Each update is then sent as
// messages holding some of its SVIDs, and ended by a message with none, which carries
// federates_with: collect SVIDs until a message without any, then take the collected set
// as the workload's whole set (an empty set is that one closing message). Without the
// header an update is one message, as in SPIRE, which clients such as Cilium's expect.
const PiecesHeader = "lanyard-delegated-max-message-size"

// MinPieceSize is the smallest piece size a client may ask for: room for any one SVID.
const MinPieceSize = 64 << 10

// pieceSize returns the piece size the client asked for, 0 for whole updates.
func pieceSize(ctx context.Context) (int, error) {
	vals := metadata.ValueFromIncomingContext(ctx, PiecesHeader)
	if len(vals) == 0 {
		return 0, nil
	}
	n, err := strconv.Atoi(vals[0])
	if err != nil || n < MinPieceSize {
		return 0, status.Errorf(codes.InvalidArgument, "%s: %q: give the largest message size the client receives, in bytes, at least %d",
			PiecesHeader, vals[0], MinPieceSize)
	}
	return n, nil
}

// pieces cuts an update into messages of at most max bytes each, followed by the closing
// message without SVIDs (see PiecesHeader).
func pieces(resp *delegatedv1.SubscribeToX509SVIDsResponse, max int) []*delegatedv1.SubscribeToX509SVIDsResponse {
	const overhead = 16 // a field's tag and length, with room to spare
	var out []*delegatedv1.SubscribeToX509SVIDsResponse
	cur, size := &delegatedv1.SubscribeToX509SVIDsResponse{}, 0
	for _, s := range resp.X509Svids {
		n := proto.Size(s) + overhead
		if size > 0 && size+n > max {
			out = append(out, cur)
			cur, size = &delegatedv1.SubscribeToX509SVIDsResponse{}, 0
		}
		cur.X509Svids = append(cur.X509Svids, s)
		size += n
	}
	if size > 0 {
		out = append(out, cur)
	}
	return append(out, &delegatedv1.SubscribeToX509SVIDsResponse{FederatesWith: resp.FederatesWith})
}
