package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Code maps an internal error to the gRPC code the API answers with.
func Code(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, datastore.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, datastore.ErrAlreadyExists):
		return codes.AlreadyExists
	case errors.Is(err, datastore.ErrConflict):
		return codes.FailedPrecondition
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Internal
}

// Error converts err to a gRPC status error prefixed with what failed.
func Error(what string, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return status.Error(st.Code(), what+": "+st.Message())
	}
	return status.Error(Code(err), fmt.Sprintf("%s: %v", what, err))
}

// Invalid returns an InvalidArgument status error.
func Invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// BatchStatus converts a per-item error to the API's status message.
func BatchStatus(what string, err error) *types.Status {
	if err == nil {
		return &types.Status{Code: int32(codes.OK), Message: "OK"}
	}
	return &types.Status{Code: int32(Code(err)), Message: fmt.Sprintf("%s: %v", what, err)}
}

// CheckSVIDBatchSize refuses a BatchNewX509SVID with more than MaxSVIDBatch CSRs, so one
// agent call cannot occupy every signing core for long. Administrative batches have no
// item limit (SPIRE's CLI sends a whole -data file at once): the gRPC message size bounds them.
func CheckSVIDBatchSize(n int) error {
	if n > MaxSVIDBatch {
		return Invalid("batch has %d CSRs; at most %d are allowed per request (split it)", n, MaxSVIDBatch)
	}
	return nil
}
