package metric

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// WorkerUse is how this process's workers are used: Slots jobs can run at
// once and Busy run now; BusySeconds and CapacitySeconds are slot-seconds
// spent generating and available since the process started, so that
// rate(busy)/rate(capacity) is the busy ratio over any window.
type WorkerUse struct {
	Slots, Busy                  int
	BusySeconds, CapacitySeconds float64
}

// GPUReading is one GPU of this machine: its index (as nvidia-smi numbers
// them), the share of the last sample period it was busy (0 to 1), and
// its memory in bytes.
type GPUReading struct {
	GPU                               int
	Utilization                       float64
	MemoryUsedBytes, MemoryTotalBytes float64
}

var (
	slotsDesc = prometheus.NewDesc("avatar_worker_slots",
		"Jobs this process's workers can run at once.", nil, nil)
	busySlotsDesc = prometheus.NewDesc("avatar_worker_busy_slots",
		"Jobs this process's workers run now.", nil, nil)
	busyRatioDesc = prometheus.NewDesc("avatar_worker_busy_ratio",
		"Busy slots over slots, now (0 with no slots); over a window, use rate(avatar_worker_busy_seconds_total) / rate(avatar_worker_capacity_seconds_total).", nil, nil)
	busySecondsDesc = prometheus.NewDesc("avatar_worker_busy_seconds_total",
		"Slot-seconds this process's workers spent generating.", nil, nil)
	capacitySecondsDesc = prometheus.NewDesc("avatar_worker_capacity_seconds_total",
		"Slot-seconds this process's workers had available, busy or not.", nil, nil)

	// gpu is bounded by the GPUs of the machine.
	gpuUtilDesc = prometheus.NewDesc("avatar_gpu_utilization_ratio",
		"Share of the last sample period a GPU of this machine was busy, 0 to 1.", []string{"gpu"}, nil)
	gpuUsedDesc = prometheus.NewDesc("avatar_gpu_memory_used_bytes",
		"Memory in use on a GPU of this machine.", []string{"gpu"}, nil)
	gpuTotalDesc = prometheus.NewDesc("avatar_gpu_memory_total_bytes",
		"Memory of a GPU of this machine.", []string{"gpu"}, nil)
)

// SetWorkerSource makes the scrapes report how this process's workers are
// used, as f answers at each scrape (so f must answer at once, from
// memory). Without a source, as on an API replica that runs no workers,
// none of the avatar_worker_ families is reported. nil stops the reports.
func (m *Metrics) SetWorkerSource(f func() WorkerUse) {
	if m == nil {
		return
	}
	m.workers.source.Store(&f)
}

// SetGPUSource makes the scrapes report this machine's GPUs as f reads
// them at each scrape (so f must answer at once, from its last sample).
// A machine without a GPU reports none of the avatar_gpu_ families, rather
// than zeros that would read as idle GPUs. nil stops the reports.
func (m *Metrics) SetGPUSource(f func() []GPUReading) {
	if m == nil {
		return
	}
	m.gpus.source.Store(&f)
}

// workerCollector reports the worker source's figures when scraped.
type workerCollector struct {
	source atomic.Pointer[func() WorkerUse]
}

// Describe sends the worker families' descriptions.
func (w *workerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{slotsDesc, busySlotsDesc, busyRatioDesc, busySecondsDesc, capacitySecondsDesc} {
		ch <- d
	}
}

// Collect sends the source's figures, or nothing without a source.
func (w *workerCollector) Collect(ch chan<- prometheus.Metric) {
	f := w.source.Load()
	if f == nil || *f == nil {
		return
	}
	u := (*f)()
	ratio := 0.0
	if u.Slots > 0 {
		ratio = float64(u.Busy) / float64(u.Slots)
	}
	ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(u.Slots))
	ch <- prometheus.MustNewConstMetric(busySlotsDesc, prometheus.GaugeValue, float64(u.Busy))
	ch <- prometheus.MustNewConstMetric(busyRatioDesc, prometheus.GaugeValue, ratio)
	ch <- prometheus.MustNewConstMetric(busySecondsDesc, prometheus.CounterValue, u.BusySeconds)
	ch <- prometheus.MustNewConstMetric(capacitySecondsDesc, prometheus.CounterValue, u.CapacitySeconds)
}

// gpuCollector reports the GPU source's readings when scraped.
type gpuCollector struct {
	source atomic.Pointer[func() []GPUReading]
}

// Describe sends the GPU families' descriptions.
func (g *gpuCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gpuUtilDesc
	ch <- gpuUsedDesc
	ch <- gpuTotalDesc
}

// Collect sends one series of each family per GPU read; a GPU read twice
// is sent once (the registry refuses a scrape with two series of the same
// labels).
func (g *gpuCollector) Collect(ch chan<- prometheus.Metric) {
	f := g.source.Load()
	if f == nil || *f == nil {
		return
	}
	readings := (*f)()
	for i, r := range readings {
		if seen(readings[:i], r.GPU) {
			continue
		}
		gpu := strconv.Itoa(r.GPU)
		ch <- prometheus.MustNewConstMetric(gpuUtilDesc, prometheus.GaugeValue, r.Utilization, gpu)
		ch <- prometheus.MustNewConstMetric(gpuUsedDesc, prometheus.GaugeValue, r.MemoryUsedBytes, gpu)
		ch <- prometheus.MustNewConstMetric(gpuTotalDesc, prometheus.GaugeValue, r.MemoryTotalBytes, gpu)
	}
}

// seen reports whether one of readings is of gpu.
func seen(readings []GPUReading, gpu int) bool {
	for _, r := range readings {
		if r.GPU == gpu {
			return true
		}
	}
	return false
}
