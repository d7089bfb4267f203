package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store"
)

// RunAlerts holds an implementation of store.Alerts to its contract. open
// returns a new, empty store for each case.
func RunAlerts(t *testing.T, open func(t *testing.T) Clocked) {
	t.Helper()
	t.Run("FirstFiring", func(t *testing.T) { firstFiring(t, open(t)) })
	t.Run("Repeat", func(t *testing.T) { repeatFiring(t, open(t)) })
	t.Run("ResolveAndFireAgain", func(t *testing.T) { resolveAndFireAgain(t, open(t)) })
	t.Run("NoChannels", func(t *testing.T) { noChannels(t, open(t)) })
	t.Run("ConcurrentEvaluations", func(t *testing.T) { concurrentEvaluations(t, open(t)) })
	t.Run("Attempts", func(t *testing.T) { deliveryAttempts(t, open(t)) })
	t.Run("ChannelStates", func(t *testing.T) { channelStates(t, open(t)) })
	t.Run("AlertStates", func(t *testing.T) { alertStates(t, open(t)) })
	t.Run("Notifications", func(t *testing.T) { notificationsNewestFirst(t, open(t)) })
	t.Run("ResolveAfter", func(t *testing.T) { resolveAfter(t, open(t)) })
	t.Run("RequeuePending", func(t *testing.T) { requeuePending(t, open(t)) })
}

var channels = []string{"hook", "mail"}

func firingAlert(key, summary string) store.FiringAlert {
	return store.FiringAlert{Key: key, Rule: "rule-" + key, Severity: "warning", Summary: summary,
		Payload: []byte(`{"key":"` + key + `","summary":"` + summary + `"}`)}
}

func recordAlerts(t *testing.T, s Clocked, p store.RecordAlertsParams) []store.Notification {
	t.Helper()
	ns, err := s.RecordAlerts(context.Background(), p)
	must(t, err)
	return ns
}

// deliveries returns the notification ids of River's deliver_alert jobs,
// checking each is on the alerts queue with its attempts.
func deliveries(t *testing.T, s Clocked) []string {
	t.Helper()
	rc, err := river.NewClient(s.Driver(), &river.Config{})
	must(t, err)
	res, err := rc.JobList(context.Background(), river.NewJobListParams().Kinds(queue.DeliverAlertArgs{}.Kind()).First(1000))
	must(t, err)
	var ids []string
	for _, j := range res.Jobs {
		var args queue.DeliverAlertArgs
		must(t, json.Unmarshal(j.EncodedArgs, &args))
		if j.Queue != queue.Alerts || j.MaxAttempts != queue.DeliverAlertAttempts {
			t.Fatalf("delivery job on queue %q with %d attempts", j.Queue, j.MaxAttempts)
		}
		ids = append(ids, args.NotificationID)
	}
	slices.Sort(ids)
	return ids
}

func notificationIDs(ns []store.Notification) []string {
	var ids []string
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	slices.Sort(ids)
	return ids
}

// wantNotifications checks ns is one notification of status per channel
// for each key, as written, and returns them by key and channel.
func wantNotifications(t *testing.T, s Clocked, ns []store.Notification, status string, repeat bool, keys ...string) map[string]store.Notification {
	t.Helper()
	if len(ns) != len(keys)*len(channels) {
		t.Fatalf("%d notifications, want %d (%v on %v): %+v", len(ns), len(keys)*len(channels), keys, channels, ns)
	}
	byKey := map[string]store.Notification{}
	for _, n := range ns {
		if n.Status != status || n.Repeat != repeat || n.State != store.DeliveryPending || n.Attempts != 0 {
			t.Fatalf("notification %+v; want %s, repeat %v, pending", n, status, repeat)
		}
		byKey[n.AlertKey+"/"+n.Channel] = n
		got, err := s.Notification(context.Background(), n.ID)
		must(t, err)
		if !sameNotification(got, n) {
			t.Fatalf("read back %+v, want %+v", got, n)
		}
	}
	for _, k := range keys {
		for _, ch := range channels {
			if _, ok := byKey[k+"/"+ch]; !ok {
				t.Fatalf("no notification of %s to %s in %+v", k, ch, ns)
			}
		}
	}
	return byKey
}

func sameNotification(a, b store.Notification) bool {
	return a.ID == b.ID && a.AlertKey == b.AlertKey && a.Rule == b.Rule && a.Status == b.Status && a.Repeat == b.Repeat &&
		a.Channel == b.Channel && bytes.Equal(a.Payload, b.Payload) && a.StartsAt.Equal(b.StartsAt) &&
		sameTime(a.EndsAt, b.EndsAt) && a.CreatedAt.Equal(b.CreatedAt) && a.State == b.State && a.Attempts == b.Attempts
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func alertState(t *testing.T, s Clocked, key string) store.AlertState {
	t.Helper()
	states, err := s.AlertStates(context.Background(), 100)
	must(t, err)
	for _, a := range states {
		if a.Key == key {
			return a
		}
	}
	t.Fatalf("no state of alert %s in %+v", key, states)
	return store.AlertState{}
}

// firstFiring: alerts that start firing are recorded and notified once per
// channel, each with its delivery job; the same evaluation again, or a
// later one within the repeat interval, notifies nothing but updates the
// content.
func firstFiring(t *testing.T, s Clocked) {
	p := store.RecordAlertsParams{Now: t0, Firing: []store.FiringAlert{firingAlert("a", "one"), firingAlert("b", "two")},
		Repeat: time.Hour, Channels: channels}
	ns := recordAlerts(t, s, p)
	byKey := wantNotifications(t, s, ns, store.AlertFiring, false, "a", "b")
	if n := byKey["a/hook"]; n.Rule != "rule-a" || !bytes.Equal(n.Payload, p.Firing[0].Payload) || !n.StartsAt.Equal(t0) ||
		n.EndsAt != nil || !n.CreatedAt.Equal(t0) {
		t.Fatalf("notification of a = %+v", n)
	}
	if got, want := deliveries(t, s), notificationIDs(ns); !slices.Equal(got, want) {
		t.Fatalf("delivery jobs for %v, want one per notification %v", got, want)
	}
	a := alertState(t, s, "a")
	if !a.Firing || a.Rule != "rule-a" || a.Summary != "one" || a.Severity != "warning" || !a.StartedAt.Equal(t0) ||
		!a.NotifiedAt.Equal(t0) || !a.EvaluatedAt.Equal(t0) || a.ResolvedAt != nil {
		t.Fatalf("state of a = %+v", a)
	}

	if again := recordAlerts(t, s, p); len(again) != 0 {
		t.Fatalf("the same evaluation again notified %+v", again)
	}
	later := t0.Add(59 * time.Minute)
	changed := firingAlert("a", "one, worse")
	changed.Severity = "critical"
	if again := recordAlerts(t, s, store.RecordAlertsParams{Now: later, Firing: []store.FiringAlert{changed, p.Firing[1]},
		Repeat: time.Hour, Channels: channels}); len(again) != 0 {
		t.Fatalf("an evaluation within the repeat interval notified %+v", again)
	}
	a = alertState(t, s, "a")
	if a.Summary != "one, worse" || a.Severity != "critical" || !bytes.Equal(a.Payload, changed.Payload) ||
		!a.NotifiedAt.Equal(t0) || !a.StartedAt.Equal(t0) || !a.EvaluatedAt.Equal(later) {
		t.Fatalf("state of a after a later evaluation = %+v", a)
	}
	if n := len(deliveries(t, s)); n != 4 {
		t.Fatalf("%d delivery jobs, want still 4", n)
	}
}

// repeatFiring: an alert firing for Repeat or more is notified again, as a
// repeat of the same start; with Repeat 0, never.
func repeatFiring(t *testing.T, s Clocked) {
	a, b := firingAlert("a", "one"), firingAlert("b", "two")
	recordAlerts(t, s, store.RecordAlertsParams{Now: t0, Firing: []store.FiringAlert{a}, Repeat: time.Hour, Channels: channels})
	recordAlerts(t, s, store.RecordAlertsParams{Now: t0, Firing: []store.FiringAlert{a, b}, Channels: channels})
	at := t0.Add(time.Hour)
	a.Summary = "one, still"
	ns := recordAlerts(t, s, store.RecordAlertsParams{Now: at, Firing: []store.FiringAlert{a, b}, Repeat: time.Hour, Channels: channels})
	byKey := wantNotifications(t, s, ns, store.AlertFiring, true, "a", "b")
	if n := byKey["a/mail"]; !n.StartsAt.Equal(t0) || !n.CreatedAt.Equal(at) || n.EndsAt != nil {
		t.Fatalf("repeat of a = %+v, want started %v, decided %v", n, t0, at)
	}
	if st := alertState(t, s, "a"); !st.NotifiedAt.Equal(at) || !st.StartedAt.Equal(t0) || st.Summary != "one, still" {
		t.Fatalf("state of a after its repeat = %+v", st)
	}
	if again := recordAlerts(t, s, store.RecordAlertsParams{Now: at.Add(30 * time.Minute), Firing: []store.FiringAlert{a, b},
		Repeat: time.Hour, Channels: channels}); len(again) != 0 {
		t.Fatalf("a repeat within the interval of the last: %+v", again)
	}
	if again := recordAlerts(t, s, store.RecordAlertsParams{Now: at.Add(24 * time.Hour), Firing: []store.FiringAlert{a, b},
		Channels: channels}); len(again) != 0 {
		t.Fatalf("a repeat with Repeat 0: %+v", again)
	}
	if n := len(deliveries(t, s)); n != 8 {
		t.Fatalf("%d delivery jobs, want 8", n)
	}
}

// resolveAndFireAgain: a firing alert no longer found is resolved once,
// with its last content; when it fires again it is a new firing.
func resolveAndFireAgain(t *testing.T, s Clocked) {
	a, b := firingAlert("a", "one"), firingAlert("b", "two")
	recordAlerts(t, s, store.RecordAlertsParams{Now: t0, Firing: []store.FiringAlert{a, b}, Repeat: time.Hour, Channels: channels})
	a.Summary, a.Payload = "one, last", []byte(`{"last":true}`)
	recordAlerts(t, s, store.RecordAlertsParams{Now: t0.Add(time.Minute), Firing: []store.FiringAlert{a, b}, Repeat: time.Hour, Channels: channels})
	end := t0.Add(2 * time.Minute)
	ns := recordAlerts(t, s, store.RecordAlertsParams{Now: end, Firing: []store.FiringAlert{b}, Repeat: time.Hour, Channels: channels})
	byKey := wantNotifications(t, s, ns, store.AlertResolved, false, "a")
	if n := byKey["a/hook"]; n.Rule != "rule-a" || !bytes.Equal(n.Payload, a.Payload) || !n.StartsAt.Equal(t0) ||
		n.EndsAt == nil || !n.EndsAt.Equal(end) || !n.CreatedAt.Equal(end) {
		t.Fatalf("resolved notification = %+v", n)
	}
	st := alertState(t, s, "a")
	if st.Firing || st.ResolvedAt == nil || !st.ResolvedAt.Equal(end) || !st.EvaluatedAt.Equal(end) || st.Summary != "one, last" {
		t.Fatalf("state of a once resolved = %+v", st)
	}
	if again := recordAlerts(t, s, store.RecordAlertsParams{Now: end.Add(time.Minute), Firing: []store.FiringAlert{b},
		Repeat: time.Hour, Channels: channels}); len(again) != 0 {
		t.Fatalf("resolved twice: %+v", again)
	}

	restart := end.Add(5 * time.Minute)
	ns = recordAlerts(t, s, store.RecordAlertsParams{Now: restart, Firing: []store.FiringAlert{a, b}, Repeat: time.Hour, Channels: channels})
	byKey = wantNotifications(t, s, ns, store.AlertFiring, false, "a")
	if n := byKey["a/mail"]; !n.StartsAt.Equal(restart) || n.EndsAt != nil {
		t.Fatalf("firing again = %+v, want a start at %v", n, restart)
	}
	st = alertState(t, s, "a")
	if !st.Firing || st.ResolvedAt != nil || !st.StartedAt.Equal(restart) || !st.NotifiedAt.Equal(restart) {
		t.Fatalf("state of a firing again = %+v", st)
	}
	if n := len(deliveries(t, s)); n != 8 {
		t.Fatalf("%d delivery jobs, want 8 (2 firings of 2 alerts, 1 resolution, 1 firing again, on 2 channels)", n)
	}
}

// noChannels: with nowhere to send, the state is recorded and nothing is
// notified or enqueued.
func noChannels(t *testing.T, s Clocked) {
	a := firingAlert("a", "one")
	if ns := recordAlerts(t, s, store.RecordAlertsParams{Now: t0, Firing: []store.FiringAlert{a}, Repeat: time.Hour}); len(ns) != 0 {
		t.Fatalf("notified without channels: %+v", ns)
	}
	if st := alertState(t, s, "a"); !st.Firing || !st.StartedAt.Equal(t0) {
		t.Fatalf("state without channels = %+v", st)
	}
	recordAlerts(t, s, store.RecordAlertsParams{Now: t0.Add(time.Minute), Repeat: time.Hour})
	if st := alertState(t, s, "a"); st.Firing || st.ResolvedAt == nil {
		t.Fatalf("state resolved without channels = %+v", st)
	}
	ns, err := s.Notifications(context.Background(), 10)
	must(t, err)
	if len(ns) != 0 || len(deliveries(t, s)) != 0 {
		t.Fatalf("notifications %+v, delivery jobs %v; want none", ns, deliveries(t, s))
	}
}

// concurrentEvaluations: evaluations of the same facts at the same moment,
// racing, start, repeat and resolve each alert once.
func concurrentEvaluations(t *testing.T, s Clocked) {
	firing := []store.FiringAlert{firingAlert("a", "one"), firingAlert("b", "two"), firingAlert("c", "three")}
	race := func(p store.RecordAlertsParams) []store.Notification {
		var mu sync.Mutex
		var all []store.Notification
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				ns, err := s.RecordAlerts(context.Background(), p)
				if err != nil {
					t.Errorf("record alerts: %v", err)
				}
				mu.Lock()
				all = append(all, ns...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		return all
	}
	wantNotifications(t, s, race(store.RecordAlertsParams{Now: t0, Firing: firing, Repeat: time.Hour, Channels: channels}),
		store.AlertFiring, false, "a", "b", "c")
	wantNotifications(t, s, race(store.RecordAlertsParams{Now: t0.Add(time.Hour), Firing: firing, Repeat: time.Hour, Channels: channels}),
		store.AlertFiring, true, "a", "b", "c")
	wantNotifications(t, s, race(store.RecordAlertsParams{Now: t0.Add(2 * time.Hour), Firing: firing[:1], Repeat: 2 * time.Hour, Channels: channels}),
		store.AlertResolved, false, "b", "c")
	all, err := s.Notifications(context.Background(), 100)
	must(t, err)
	if got, want := deliveries(t, s), notificationIDs(all); len(all) != 16 || !slices.Equal(got, want) {
		t.Fatalf("%d notifications, delivery jobs %v; want 16, one job each", len(all), got)
	}
}

// deliveryAttempts: each attempt is recorded with its outcome; a failure
// leaves the notification pending, a final one fails it, a delivery
// delivers it, and nothing is recorded after a delivery.
func deliveryAttempts(t *testing.T, s Clocked) {
	ctx := context.Background()
	ns := recordAlerts(t, s, store.RecordAlertsParams{Now: t0, Firing: []store.FiringAlert{firingAlert("a", "one")}, Channels: channels})
	byKey := wantNotifications(t, s, ns, store.AlertFiring, false, "a")
	hook, mail := byKey["a/hook"], byKey["a/mail"]
	at := t0.Add(time.Second)
	must(t, s.RecordAttempt(ctx, store.DeliveryAttempt{NotificationID: hook.ID, At: at, Status: 503, Error: "unavailable",
		Latency: 120 * time.Millisecond}))
	n, err := s.Notification(ctx, hook.ID)
	must(t, err)
	if n.State != store.DeliveryPending || n.Attempts != 1 || n.LastStatus != 503 || n.LastError != "unavailable" ||
		n.LastAttemptAt == nil || !n.LastAttemptAt.Equal(at) || n.DeliveredAt != nil {
		t.Fatalf("after a failed attempt: %+v", n)
	}
	delivered := at.Add(10 * time.Second)
	must(t, s.RecordAttempt(ctx, store.DeliveryAttempt{NotificationID: hook.ID, At: delivered, Delivered: true, Status: 200,
		Latency: 80 * time.Millisecond}))
	n, err = s.Notification(ctx, hook.ID)
	must(t, err)
	if n.State != store.DeliveryDelivered || n.Attempts != 2 || n.LastStatus != 200 || n.LastError != "" ||
		n.DeliveredAt == nil || !n.DeliveredAt.Equal(delivered) || !n.LastAttemptAt.Equal(delivered) {
		t.Fatalf("after a delivery: %+v", n)
	}
	err = s.RecordAttempt(ctx, store.DeliveryAttempt{NotificationID: hook.ID, At: delivered.Add(time.Second), Delivered: true, Status: 200})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an attempt after the delivery: %v, want ErrConflict", err)
	}
	attempts, err := s.Attempts(ctx, hook.ID)
	must(t, err)
	want := []store.DeliveryAttempt{
		{NotificationID: hook.ID, Channel: "hook", At: at, Status: 503, Error: "unavailable", Latency: 120 * time.Millisecond},
		{NotificationID: hook.ID, Channel: "hook", At: delivered, Delivered: true, Status: 200, Latency: 80 * time.Millisecond},
	}
	if len(attempts) != len(want) {
		t.Fatalf("attempts = %+v, want %+v", attempts, want)
	}
	for i := range want {
		if got := attempts[i]; !got.At.Equal(want[i].At) || got.NotificationID != want[i].NotificationID || got.Channel != want[i].Channel ||
			got.Delivered != want[i].Delivered || got.Status != want[i].Status || got.Error != want[i].Error ||
			got.Latency != want[i].Latency || got.Final != want[i].Final {
			t.Fatalf("attempt %d = %+v, want %+v", i, got, want[i])
		}
	}

	must(t, s.RecordAttempt(ctx, store.DeliveryAttempt{NotificationID: mail.ID, At: at, Status: 550, Error: "mailbox unavailable", Final: true}))
	n, err = s.Notification(ctx, mail.ID)
	must(t, err)
	if n.State != store.DeliveryFailed || n.Attempts != 1 || n.LastStatus != 550 || n.LastError != "mailbox unavailable" || n.DeliveredAt != nil {
		t.Fatalf("after a final failure: %+v", n)
	}
	if attempts, err := s.Attempts(ctx, mail.ID); err != nil || len(attempts) != 1 || !attempts[0].Final {
		t.Fatalf("attempts of the failed notification = %+v, %v", attempts, err)
	}

	missing := "01890000-0000-7000-8000-000000000000"
	if err := s.RecordAttempt(ctx, store.DeliveryAttempt{NotificationID: missing, At: at}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an attempt of a missing notification: %v, want ErrNotFound", err)
	}
	if _, err := s.Notification(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a missing notification: %v, want ErrNotFound", err)
	}
	if _, err := s.Notification(ctx, "not-a-uuid"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a notification of a malformed id: %v, want ErrNotFound", err)
	}
}

// channelStates: each channel's counts, last attempt and last delivery,
// and since when it fails.
func channelStates(t *testing.T, s Clocked) {
	ctx := context.Background()
	if cs, err := s.ChannelStates(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("channels with no notification: %+v, %v", cs, err)
	}
	var hook []string
	var firing []store.FiringAlert
	for i, k := range []string{"a", "b", "c"} {
		firing = append(firing, firingAlert(k, k))
		ns := recordAlerts(t, s, store.RecordAlertsParams{Now: t0.Add(time.Duration(i) * time.Minute),
			Firing: firing, Channels: []string{"hook", "mail"}})
		for _, n := range ns {
			if n.Channel == "hook" {
				hook = append(hook, n.ID)
			}
		}
	}
	attempt := func(id string, at time.Time, delivered, final bool) {
		t.Helper()
		a := store.DeliveryAttempt{NotificationID: id, At: at, Delivered: delivered, Final: final, Status: 500, Error: "boom"}
		if delivered {
			a.Status, a.Error = 200, ""
		}
		must(t, s.RecordAttempt(ctx, a))
	}
	hookState := func() (store.ChannelState, store.ChannelState) {
		t.Helper()
		cs, err := s.ChannelStates(ctx)
		must(t, err)
		if len(cs) != 2 || cs[0].Channel != "hook" || cs[1].Channel != "mail" {
			t.Fatalf("channel states = %+v, want hook and mail", cs)
		}
		return cs[0], cs[1]
	}
	t1, t2, t3, t4 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour), t0.Add(4*time.Hour)
	attempt(hook[0], t1, false, false)
	attempt(hook[0], t2, false, false)
	h, m := hookState()
	if h.Pending != 3 || h.Delivered != 0 || h.Failed != 0 || h.LastAttemptAt == nil || !h.LastAttemptAt.Equal(t2) ||
		h.LastDelivered || h.LastError != "boom" || h.LastStatus != 500 || h.LastDeliveredAt != nil ||
		h.FailingSince == nil || !h.FailingSince.Equal(t1) {
		t.Fatalf("hook after two failures = %+v", h)
	}
	if m.Pending != 3 || m.LastAttemptAt != nil || m.FailingSince != nil || m.LastDeliveredAt != nil {
		t.Fatalf("mail with no attempt = %+v", m)
	}
	attempt(hook[0], t3, true, false)
	attempt(hook[1], t3.Add(time.Second), false, true)
	attempt(hook[2], t3.Add(2*time.Second), true, false)
	h, _ = hookState()
	if h.Pending != 0 || h.Delivered != 2 || h.Failed != 1 || !h.LastDelivered || h.LastStatus != 200 || h.LastError != "" ||
		h.FailingSince != nil || h.LastDeliveredAt == nil || !h.LastDeliveredAt.Equal(t3.Add(2*time.Second)) {
		t.Fatalf("hook after deliveries = %+v", h)
	}
	ns := recordAlerts(t, s, store.RecordAlertsParams{Now: t4, Firing: append(firing, firingAlert("d", "d")), Channels: []string{"hook"}})
	attempt(ns[0].ID, t4, false, false)
	attempt(ns[0].ID, t4.Add(time.Minute), false, false)
	h, _ = hookState()
	if h.Pending != 1 || h.LastDelivered || h.FailingSince == nil || !h.FailingSince.Equal(t4) ||
		!h.LastAttemptAt.Equal(t4.Add(time.Minute)) || !h.LastDeliveredAt.Equal(t3.Add(2*time.Second)) {
		t.Fatalf("hook failing again = %+v", h)
	}
}

// alertStates: the firing alerts first, then the others most recently
// resolved first, at most limit.
func alertStates(t *testing.T, s Clocked) {
	a, b, c, d := firingAlert("a", "a"), firingAlert("b", "b"), firingAlert("c", "c"), firingAlert("d", "d")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	recordAlerts(t, s, store.RecordAlertsParams{Now: at(0), Firing: []store.FiringAlert{a, c, d}})
	recordAlerts(t, s, store.RecordAlertsParams{Now: at(1), Firing: []store.FiringAlert{a, b, c, d}})
	recordAlerts(t, s, store.RecordAlertsParams{Now: at(2), Firing: []store.FiringAlert{a, b, d}})
	recordAlerts(t, s, store.RecordAlertsParams{Now: at(3), Firing: []store.FiringAlert{a, b}})
	states, err := s.AlertStates(context.Background(), 10)
	must(t, err)
	var keys []string
	for _, st := range states {
		keys = append(keys, st.Key)
	}
	if want := []string{"b", "a", "d", "c"}; !slices.Equal(keys, want) {
		t.Fatalf("alert states in order %v, want %v (firing most recent first, then most recently resolved)", keys, want)
	}
	if !states[0].Firing || !states[1].Firing || states[2].Firing || !states[2].ResolvedAt.Equal(at(3)) {
		t.Fatalf("alert states = %+v", states)
	}
	if states, err := s.AlertStates(context.Background(), 3); err != nil || len(states) != 3 {
		t.Fatalf("alert states, at most 3: %d, %v", len(states), err)
	}
}

// notificationsNewestFirst: the latest notifications, newest first.
func notificationsNewestFirst(t *testing.T, s Clocked) {
	ctx := context.Background()
	first := recordAlerts(t, s, store.RecordAlertsParams{Now: t0, Firing: []store.FiringAlert{firingAlert("a", "a")}, Channels: channels})
	second := recordAlerts(t, s, store.RecordAlertsParams{Now: t0.Add(time.Minute), Channels: channels})
	third := recordAlerts(t, s, store.RecordAlertsParams{Now: t0.Add(2 * time.Minute),
		Firing: []store.FiringAlert{firingAlert("b", "b")}, Channels: channels[:1]})
	ns, err := s.Notifications(ctx, 10)
	must(t, err)
	if len(ns) != 5 || ns[0].ID != third[0].ID || ns[1].Status != store.AlertResolved || ns[2].Status != store.AlertResolved ||
		ns[3].Status != store.AlertFiring || ns[4].Status != store.AlertFiring {
		t.Fatalf("notifications = %+v", ns)
	}
	if !slices.Equal(notificationIDs(ns[1:3]), notificationIDs(second)) || !slices.Equal(notificationIDs(ns[3:]), notificationIDs(first)) {
		t.Fatalf("notifications not newest first: %+v", ns)
	}
	if ns, err := s.Notifications(ctx, 2); err != nil || len(ns) != 2 || ns[0].ID != third[0].ID {
		t.Fatalf("notifications, at most 2: %+v, %v", ns, err)
	}
}

// resolveAfter: an alert that stops holding is resolved only once it has
// not held for p.ResolveAfter; holding again meanwhile keeps it firing,
// with no notification either way.
func resolveAfter(t *testing.T, s Clocked) {
	a := firingAlert("a", "one")
	p := func(at time.Duration, firing ...store.FiringAlert) store.RecordAlertsParams {
		return store.RecordAlertsParams{Now: t0.Add(at), Firing: firing, Repeat: time.Hour, ResolveAfter: 5 * time.Minute, Channels: channels}
	}
	recordAlerts(t, s, p(0, a))
	for _, at := range []time.Duration{time.Minute, 4 * time.Minute} { // not holding, then briefly holding, then not
		if ns := recordAlerts(t, s, p(at)); len(ns) != 0 {
			t.Fatalf("resolved %s after it last held: %+v", at, ns)
		}
	}
	recordAlerts(t, s, p(5*time.Minute, a))
	if ns := recordAlerts(t, s, p(9*time.Minute)); len(ns) != 0 {
		t.Fatalf("resolved 4 min after it last held: %+v", ns)
	}
	ns := recordAlerts(t, s, p(10*time.Minute))
	wantNotifications(t, s, ns, store.AlertResolved, false, "a")
	if n := len(deliveries(t, s)); n != 4 {
		t.Fatalf("%d delivery jobs, want 4 (one firing, one resolution, on 2 channels)", n)
	}
}

// requeuePending: a pending notification whose delivery job is alive is
// not enqueued twice; one whose job River gave up on gets a new one;
// delivered ones and those decided after t are left alone.
func requeuePending(t *testing.T, s Clocked) {
	ctx := context.Background()
	ns := recordAlerts(t, s, store.RecordAlertsParams{Now: t0, Firing: []store.FiringAlert{firingAlert("a", "one")}, Channels: channels})
	must(t, s.RecordAttempt(ctx, store.DeliveryAttempt{NotificationID: ns[1].ID, At: t0, Delivered: true}))
	n, err := s.RequeuePending(ctx, t0.Add(time.Minute), 100)
	must(t, err)
	if n != 1 || len(deliveries(t, s)) != 2 {
		t.Fatalf("requeued %d with their jobs alive: %d jobs, want 1 looked at and still 2 jobs", n, len(deliveries(t, s)))
	}
	// River gives up on the pending one's job (its process died on its
	// last attempt).
	rc, err := river.NewClient(s.Driver(), &river.Config{})
	must(t, err)
	res, err := rc.JobList(ctx, river.NewJobListParams().Kinds(queue.DeliverAlertArgs{}.Kind()).First(10))
	must(t, err)
	for _, j := range res.Jobs {
		var args queue.DeliverAlertArgs
		must(t, json.Unmarshal(j.EncodedArgs, &args))
		if args.NotificationID == ns[0].ID {
			_, err := rc.JobCancel(ctx, j.ID)
			must(t, err)
		}
	}
	if n, err = s.RequeuePending(ctx, t0, 100); err != nil || n != 0 {
		t.Fatalf("requeued %d decided after t (%v)", n, err)
	}
	n, err = s.RequeuePending(ctx, t0.Add(time.Minute), 100)
	must(t, err)
	got := deliveries(t, s)
	if n != 1 || len(got) != 3 || slices.Index(got, ns[0].ID) < 0 {
		t.Fatalf("requeued %d: jobs for %v, want a third for %s", n, got, ns[0].ID)
	}
}
