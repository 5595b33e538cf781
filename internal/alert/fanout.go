package alert

import (
	"context"
	"errors"
	"fmt"
)

// Fanout sends each alert to every sink in order. A failing sink does not
// stop the others; Send returns all failures joined with errors.Join, each
// naming the sink's position and type.
type Fanout []Sink

// Send sends a to every sink.
func (f Fanout) Send(ctx context.Context, a Alert) error {
	var errs []error
	for i, s := range f {
		if s == nil {
			continue
		}
		if err := s.Send(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("alert sink %d (%T): %w", i, s, err))
		}
	}
	return errors.Join(errs...)
}

// Sink returns f as one Sink: nil when f is empty (alerts are then only
// logged), the sink itself when there is one.
func (f Fanout) Sink() Sink {
	switch len(f) {
	case 0:
		return nil
	case 1:
		return f[0]
	}
	return f
}
