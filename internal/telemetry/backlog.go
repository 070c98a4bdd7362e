package telemetry

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Collectors that read state when scraped: the queue's backlog and the
// dispatcher's rate budgets.

// scrapeTimeout bounds how long a scrape waits for the queue.
const scrapeTimeout = 3 * time.Second

// backlogCollector reports the backlog at scrape time.
type backlogCollector struct {
	count, age *prometheus.Desc

	mu   sync.Mutex
	read BacklogFunc
}

func (c *backlogCollector) setRead(read BacklogFunc) {
	c.mu.Lock()
	c.read = read
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.count
	ch <- c.age
}

// Collect implements prometheus.Collector.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	read := c.read
	c.mu.Unlock()
	if read == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	backlogs, err := read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.count, fmt.Errorf("read backlog: %w", err))
		return
	}
	for _, b := range backlogs {
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(b.Messages), b.Destination)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, b.OldestAge.Seconds(), b.Destination)
	}
}

// budgetCollector reports rate budgets at scrape time.
type budgetCollector struct {
	left *prometheus.Desc

	mu   sync.Mutex
	read func() []Budget
}

func (c *budgetCollector) setRead(read func() []Budget) {
	c.mu.Lock()
	c.read = read
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.left }

// Collect implements prometheus.Collector.
func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	read := c.read
	c.mu.Unlock()
	if read == nil {
		return
	}
	for _, b := range read() {
		ch <- prometheus.MustNewConstMetric(c.left, prometheus.GaugeValue, float64(b.Left), b.Destination, b.Window)
	}
}

// QueueBacklog reads the backlog of destinations from their lanes: what
// waits for each of them, as far as lanes lets this instance see it.
func QueueBacklog(lanes queue.Lanes, destinations []string) BacklogFunc {
	return func(ctx context.Context) ([]Backlog, error) {
		waiting, err := lanes.Backlog(ctx, destinations)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		out := make([]Backlog, 0, len(destinations))
		for _, d := range destinations {
			w := waiting[d]
			b := Backlog{Destination: d, Messages: w.Count}
			if !w.Oldest.IsZero() {
				b.OldestAge = max(now.Sub(w.Oldest), 0)
			}
			out = append(out, b)
		}
		return out, nil
	}
}

// WaitingFunc reads what waits for one stage.
type WaitingFunc func(ctx context.Context) (queue.Waiting, error)

// stageBacklogCollector reports what waits for each stage at scrape time.
type stageBacklogCollector struct {
	count, age *prometheus.Desc

	mu    sync.Mutex
	reads map[string]WaitingFunc
}

// Describe implements prometheus.Collector.
func (c *stageBacklogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.count
	ch <- c.age
}

// Collect implements prometheus.Collector.
func (c *stageBacklogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	reads := maps.Clone(c.reads)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for stage, read := range reads {
		w, err := read(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.count, fmt.Errorf("read the backlog of %s: %w", stage, err))
			continue
		}
		var age time.Duration
		if !w.Oldest.IsZero() {
			age = max(time.Since(w.Oldest), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(w.Count), stage)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age.Seconds(), stage)
	}
}

// WatchStageBacklog makes each scrape report what read says waits for stage.
func (m *Metrics) WatchStageBacklog(stage string, read WaitingFunc) {
	if m == nil {
		return
	}
	m.stageBacklog.mu.Lock()
	defer m.stageBacklog.mu.Unlock()
	m.stageBacklog.reads[stage] = read
}

// StageRunning says whether stage runs in this process.
func (m *Metrics) StageRunning(stage string, running bool) {
	if m == nil {
		return
	}
	v := 0.0
	if running {
		v = 1
	}
	m.stageRunning.WithLabelValues(stage).Set(v)
}
