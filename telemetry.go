package ngbak

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry goes through the OpenTelemetry API only: the application picks
// the SDK and exporters (Options.TracerProvider, Options.MeterProvider, or
// otel's global providers, which record nothing until an SDK is installed).
//
// Spans: "ngbak.Create", "ngbak.Restore" and "ngbak.Verify" around the
// Manager's methods, with a child "ngbak.export" or "ngbak.restore" span per
// backend (a Restore's safety backup and rollback show up as such children
// too, with ngbak.op "restore" and "rollback").
//
// Metrics:
//
//	ngbak.operation.duration  histogram, s    ngbak.op, ngbak.outcome
//	ngbak.operation.failures  counter         ngbak.op
//	ngbak.backend.bytes       counter, By     ngbak.op, ngbak.phase, ngbak.backend, ngbak.kind
//	ngbak.backend.items       counter         as bytes, plus ngbak.stat (the Stats key)
//	ngbak.backup.last_success gauge, unix s   none (when this Manager's last Create ended)
//
// Backend bytes and items count the payload of backends that finished: the
// files a backend wrote or read, and its Stats.

const instrumentation = "github.com/ngbak/ngbak"

// Attribute keys of ngbak's spans and metrics.
const (
	attrOp      = attribute.Key("ngbak.op")
	attrOutcome = attribute.Key("ngbak.outcome")
	attrPhase   = attribute.Key("ngbak.phase")
	attrBackend = attribute.Key("ngbak.backend")
	attrKind    = attribute.Key("ngbak.kind")
	attrStat    = attribute.Key("ngbak.stat")
	attrID      = attribute.Key("ngbak.id")
)

type telemetry struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	failures metric.Int64Counter
	bytes    metric.Int64Counter
	items    metric.Int64Counter
	// lastSuccess is the unix time the newest successful Create of this
	// Manager ended, 0 before the first.
	lastSuccess atomic.Int64
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (*telemetry, error) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t := &telemetry{tracer: tp.Tracer(instrumentation, trace.WithInstrumentationVersion(Version))}
	meter := mp.Meter(instrumentation, metric.WithInstrumentationVersion(Version))
	var errs [5]error
	t.duration, errs[0] = meter.Float64Histogram("ngbak.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of Create, Restore and Verify."))
	t.failures, errs[1] = meter.Int64Counter("ngbak.operation.failures",
		metric.WithDescription("Create, Restore and Verify calls that failed."))
	t.bytes, errs[2] = meter.Int64Counter("ngbak.backend.bytes", metric.WithUnit("By"),
		metric.WithDescription("Payload bytes a backend exported or restored."))
	t.items, errs[3] = meter.Int64Counter("ngbak.backend.items",
		metric.WithDescription("Items (the backend's Stats) a backend exported or restored."))
	_, errs[4] = meter.Int64ObservableGauge("ngbak.backup.last_success", metric.WithUnit("s"),
		metric.WithDescription("Unix time of the newest successful Create of this Manager."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			// Before the first success there is no value: 0 would read as
			// a backup that is 56 years old.
			if v := t.lastSuccess.Load(); v > 0 {
				o.Observe(v)
			}
			return nil
		}))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return t, nil
}

// startOp starts the span of a Manager operation; end records its outcome.
func (t *telemetry) startOp(ctx context.Context, op, id string) (context.Context, func(error)) {
	start := time.Now()
	ctx, span := t.tracer.Start(ctx, "ngbak."+op)
	if id != "" {
		span.SetAttributes(attrID.String(id))
	}
	return ctx, func(err error) {
		outcome := "success"
		if err != nil {
			outcome = "failure"
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		// The metrics use the op's lower-case name, as Event.Op does.
		name := opName(op)
		t.duration.Record(ctx, time.Since(start).Seconds(),
			metric.WithAttributes(attrOp.String(name), attrOutcome.String(outcome)))
		if err != nil {
			t.failures.Add(ctx, 1, metric.WithAttributes(attrOp.String(name)))
		} else if op == "Create" {
			// Concurrent Creates end in any order; the gauge never goes back.
			now := time.Now().Unix()
			for old := t.lastSuccess.Load(); old < now && !t.lastSuccess.CompareAndSwap(old, now); old = t.lastSuccess.Load() {
			}
		}
	}
}

func opName(op string) string {
	switch op {
	case "Create":
		return "create"
	case "Restore":
		return "restore"
	}
	return "verify"
}

// startBackend starts the child span of one backend's export or restore;
// end records the backend's payload once it has finished.
func (t *telemetry) startBackend(ctx context.Context, op, phase string, e Exporter) (context.Context, func(*Backend, error)) {
	attrs := []attribute.KeyValue{attrOp.String(op), attrPhase.String(phase), attrBackend.String(e.Name()), attrKind.String(e.Kind())}
	ctx, span := t.tracer.Start(ctx, "ngbak."+phase, trace.WithAttributes(attrs...))
	return ctx, func(b *Backend, err error) {
		defer span.End()
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			return
		}
		var n int64
		for _, f := range b.Files {
			n += f.Size
		}
		t.bytes.Add(ctx, n, metric.WithAttributes(attrs...))
		for stat, v := range b.Stats {
			t.items.Add(ctx, v, metric.WithAttributes(append(attrs, attrStat.String(stat))...))
		}
	}
}
