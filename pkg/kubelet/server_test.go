package kubelet

import (
	"net/url"
	"testing"
	"time"
)

func TestLogOptions(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		query   string
		stamps  bool
		since   time.Time
		wantErr bool
	}{
		{query: ""},
		{query: "timestamps=true", stamps: true},
		{query: "sinceSeconds=30", since: now.Add(-30 * time.Second)},
		{query: "sinceTime=2025-03-01T09:00:00Z&timestamps=1", stamps: true, since: now.Add(-time.Hour)},
		{query: "sinceSeconds=0", wantErr: true},
		{query: "sinceSeconds=x", wantErr: true},
		{query: "sinceTime=yesterday", wantErr: true},
		{query: "sinceSeconds=5&sinceTime=2025-03-01T09:00:00Z", wantErr: true},
		{query: "timestamps=maybe", wantErr: true},
	} {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := logOptions(q, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (got.Timestamps != tt.stamps || !got.Since.Equal(tt.since)) {
				t.Errorf("got %+v, want timestamps %v since %s", got, tt.stamps, tt.since)
			}
		})
	}
}
