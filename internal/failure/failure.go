// Package failure names the kinds of failure that cross package boundaries
// (overload, bad input, too large, unavailable) and maps any error to the
// HTTP status and gRPC code a client should see. It is the one place where
// errors become statuses; every edge (ingest and query APIs) asks it.
//
// Everything here is stateless and safe for concurrent use.
package failure

import (
	"context"
	"errors"
	"net/http"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/storage"
	"google.golang.org/grpc/codes"
)

// Sentinel kinds. Wrap them (fmt.Errorf("…: %w", failure.ErrInvalid)) so the
// message says what went wrong and the kind says how to answer.
var (
	// ErrOverloaded means "slow down and retry": 429 / RESOURCE_EXHAUSTED.
	ErrOverloaded = errors.New("overloaded, retry later")
	// ErrInvalid means the input can never succeed: 400 / INVALID_ARGUMENT.
	ErrInvalid = errors.New("invalid input")
	// ErrTooLarge means the request exceeds a size limit: 413 /
	// RESOURCE_EXHAUSTED (not retryable as is).
	ErrTooLarge = errors.New("request too large")
	// ErrUnsupported means the media type or encoding is not accepted: 415.
	ErrUnsupported = errors.New("unsupported media type")
	// ErrUnavailable means the server is starting or stopping: 503 /
	// UNAVAILABLE (retryable).
	ErrUnavailable = errors.New("unavailable")
	// ErrNotFound means the thing asked for does not exist: 404.
	ErrNotFound = errors.New("not found")
	// ErrSlowClient means the request body did not arrive in time: 408.
	ErrSlowClient = errors.New("request body not received in time")
)

// HTTPStatus returns the status code for err (200 for nil).
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrOverloaded):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupported):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrSlowClient):
		return http.StatusRequestTimeout
	case isBadSample(err), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		return 499 // client went away; nobody reads this
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// GRPCCode returns the gRPC status code for err (OK for nil).
func GRPCCode(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, ErrOverloaded), errors.Is(err, ErrTooLarge):
		return codes.ResourceExhausted
	case errors.Is(err, ErrUnsupported):
		return codes.Unimplemented
	case errors.Is(err, ErrNotFound):
		return codes.NotFound
	case errors.Is(err, ErrUnavailable):
		return codes.Unavailable
	case errors.Is(err, ErrSlowClient):
		return codes.DeadlineExceeded
	case isBadSample(err), errors.Is(err, ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	default:
		return codes.Internal
	}
}

// Retryable reports whether a client should send the same request again.
func Retryable(err error) bool {
	s := HTTPStatus(err)
	return s == http.StatusTooManyRequests || s >= 500
}

// isBadSample recognises the metric store's rejections of samples that no
// retry can fix (they are out of order, too old, or duplicates).
func isBadSample(err error) bool {
	return errors.Is(err, storage.ErrOutOfOrderSample) ||
		errors.Is(err, storage.ErrOutOfBounds) ||
		errors.Is(err, storage.ErrTooOldSample) ||
		errors.Is(err, storage.ErrDuplicateSampleForTimestamp) ||
		errors.Is(err, storage.ErrOutOfOrderExemplar) ||
		errors.Is(err, storage.ErrExemplarLabelLength) ||
		errors.Is(err, storage.ErrExemplarsDisabled) ||
		errors.Is(err, storage.ErrOutOfOrderST) ||
		errors.Is(err, storage.ErrSTNewerThanSample) ||
		errors.As(err, new(histogram.Error))
}
