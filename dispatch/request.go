package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"
)

// post makes one HTTP request. It finishes even when ctx is cancelled (bounded
// by the destination's timeout), so shutdown does not abandon a request Teams
// may already have accepted.
func (w *worker) post(ctx context.Context, deliveryID string, card []byte) outcome {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.dest.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.dest.URL, bytes.NewReader(card))
	if err != nil {
		return outcome{verdict: rejected, err: fmt.Errorf("build request: %w", redactURL(err))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hookrelay-Delivery-Id", deliveryID)
	w.opts.tel.Propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := w.client.Do(req)
	if err != nil {
		// Connection errors, DNS failures and timeouts are transient, except
		// a destination the guard refuses: that never gets better.
		if errors.Is(err, ErrPrivateAddress) {
			return outcome{verdict: rejected, err: redactURL(err)}
		}
		return outcome{verdict: retry, err: redactURL(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return classify(resp.StatusCode, resp.Header, body, time.Now())
}

// redactURL drops the URL from an error: destination URLs are credentials,
// and what an outcome's error says reaches the admin page, dead letters,
// the events' history and traces.
func redactURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return fmt.Errorf("post: %w", inner)
		}
	}
	return errors.New("post failed")
}
