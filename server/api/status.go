package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

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

// Error converts err to a gRPC status error prefixed with what failed. The caller is told
// what Message says; the cause of an Internal error stays in the server log (the
// interceptors log it).
func Error(what string, err error) error {
	var ie *internalError
	if errors.As(err, &ie) {
		return &internalError{st: status.New(codes.Internal, what+": "+ie.st.Message()), cause: ie.cause}
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return status.Error(st.Code(), what+": "+st.Message())
	}
	code := Code(err)
	if code == codes.Internal {
		return &internalError{st: status.New(codes.Internal, what+": "+internalMessage), cause: fmt.Errorf("%s: %w", what, err)}
	}
	return status.Error(code, what+": "+Message(err))
}

const internalMessage = "internal error (the server log has the details)"

// internalError is an Internal status whose cause is kept for the server log, never sent.
type internalError struct {
	st    *status.Status
	cause error
}

func (e *internalError) Error() string              { return e.st.Message() }
func (e *internalError) GRPCStatus() *status.Status { return e.st }
func (e *internalError) Unwrap() error              { return e.cause }

// logInternal logs the cause of an Internal error a handler returned.
func logInternal(log *slog.Logger, method string, err error) {
	var ie *internalError
	if errors.As(err, &ie) {
		log.Error("internal error", "method", method, "error", ie.cause)
	}
}

// Message is what the caller is told about an error the API classifies (invalid input,
// not found, already exists, conflict): the description written for it, without the
// datastore's prefixes ("sqlite: create entry 0: ") or the sentinel's own word.
func Message(err error) string {
	for _, sentinel := range []error{ErrInvalid, datastore.ErrNotFound, datastore.ErrAlreadyExists, datastore.ErrConflict} {
		if errors.Is(err, sentinel) {
			return describe(err, sentinel)
		}
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown && st.Code() != codes.Internal {
		return st.Message()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err.Error()
	}
	return internalMessage
}

// describe finds the error that wraps sentinel directly and returns its text without the
// sentinel's.
func describe(err, sentinel error) string {
	for cur := err; cur != nil; {
		next := errors.Unwrap(cur)
		if next == sentinel {
			msg := strings.TrimSuffix(cur.Error(), ": "+sentinel.Error())
			return strings.TrimPrefix(msg, sentinel.Error()+": ")
		}
		cur = next
	}
	return sentinel.Error()
}

// Invalid returns an InvalidArgument status error.
func Invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// BatchStatus converts a per-item error to the API's status message; the cause of an
// internal failure goes to log.
func BatchStatus(log *slog.Logger, what string, err error) *types.Status {
	if err == nil {
		return &types.Status{Code: int32(codes.OK), Message: "OK"}
	}
	code := Code(err)
	if code == codes.Internal {
		log.Error("internal error", "item", what, "error", err)
	}
	return &types.Status{Code: int32(code), Message: what + ": " + Message(err)}
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
