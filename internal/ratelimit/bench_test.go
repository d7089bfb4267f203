package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLimiter: the cost of one decision, memory and Redis, next to no
// limiter, in one run. Keys rotate over 1000 customers with the story's
// 10/hour policy, so both allowed and refused decisions are measured.
func BenchmarkLimiter(b *testing.B) {
	p := Policy{Name: "hourly", Limit: 10, Window: time.Hour}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	for name, l := range map[string]Limiter{"none": nil, "memory": NewMemory(), "redis": newRedis(b)} {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if l == nil {
					continue
				}
				if _, err := l.Allow(ctx, keys[i%len(keys)], p, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRedisConcurrent: decisions from 32 goroutines at once, as a
// loaded API process makes them, one round trip each against the batched
// pipeline, in one run. Keys rotate over 1000 customers at 100 000/hour,
// so every decision is an allowed one that records its request.
func BenchmarkRedisConcurrent(b *testing.B) {
	p := Policy{Name: "polling", Limit: 100_000, Window: time.Hour}
	ctx := context.Background()
	batched := newRedis(b)
	single := newRedis(b)
	single.batch = nil
	for name, l := range map[string]*Redis{"round-trips": single, "batched": batched} {
		b.Run(name, func(b *testing.B) {
			b.SetParallelism(16) // 32 goroutines on 2 cores
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if _, err := l.Allow(ctx, "key-"+strconv.FormatInt(i%1000, 10), p, time.Time{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
