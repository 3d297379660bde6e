package apiserver

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"minik8s/pkg/api"

	"github.com/gin-gonic/gin"
	"gopkg.in/natefinch/lumberjack.v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
)

// auditing is the audit log: kube-apiserver's policy evaluator deciding
// what each request records, and its log backend writing
// audit.k8s.io/v1 Events as JSON lines. The filters that fill the
// events are k8s.io/apiserver's (handler()).
type auditing struct {
	sink   audit.Sink
	policy audit.PolicyRuleEvaluator
	out    io.Closer
}

// defaultAuditPolicy is what an --audit-log-path without
// --audit-policy-file records: every request at Metadata level (who,
// what, on which object, with what answer; never a body, so no Secret's
// data), one line per request (its RequestReceived stage left out).
var defaultAuditPolicy = &auditinternal.Policy{
	OmitStages: []auditinternal.Stage{auditinternal.StageRequestReceived},
	Rules:      []auditinternal.PolicyRule{{Level: auditinternal.LevelMetadata}},
}

// newAuditing opens the audit log of cfg; nil when there is none.
func newAuditing(cfg *Config) (*auditing, error) {
	if cfg.AuditLogPath == "" {
		return nil, nil
	}
	p := defaultAuditPolicy
	if cfg.AuditPolicyFile != "" {
		var err error
		if p, err = policy.LoadPolicyFromFile(cfg.AuditPolicyFile); err != nil {
			return nil, fmt.Errorf("--audit-policy-file: %w", err)
		}
	}
	w, err := auditWriter(cfg)
	if err != nil {
		return nil, fmt.Errorf("--audit-log-path %s: %w", cfg.AuditLogPath, err)
	}
	a := &auditing{
		sink:   pluginlog.NewBackend(w, pluginlog.FormatJson, auditv1.SchemeGroupVersion),
		policy: policy.NewPolicyRuleEvaluator(p),
	}
	if c, ok := w.(io.Closer); ok && w != os.Stdout {
		a.out = c
	}
	return a, nil
}

// auditWriter is kube-apiserver's: "-" is stdout; a file is created 0600
// in a 0700 directory and appended to, rotated by size (lumberjack)
// when --audit-log-maxsize is set.
func auditWriter(cfg *Config) (io.Writer, error) {
	if cfg.AuditLogPath == "-" {
		return os.Stdout, nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.AuditLogPath), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(cfg.AuditLogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	if cfg.AuditLogMaxSize == 0 {
		return f, nil
	}
	_ = f.Close()
	return &lumberjack.Logger{
		Filename:   cfg.AuditLogPath,
		MaxAge:     cfg.AuditLogMaxAge,
		MaxBackups: cfg.AuditLogMaxBackups,
		MaxSize:    cfg.AuditLogMaxSize,
	}, nil
}

// sinkAndPolicy are nil (no auditing) for a nil a.
func (a *auditing) sinkAndPolicy() (audit.Sink, audit.PolicyRuleEvaluator) {
	if a == nil {
		return nil, nil
	}
	return a.sink, a.policy
}

// close flushes nothing (the log backend writes each event as it comes)
// and closes the file.
func (a *auditing) close() {
	if a != nil && a.out != nil {
		_ = a.out.Close()
	}
}

// longRunning is kube-apiserver's check: a watch, a proxy or a stream
// (attach, exec, log, portforward) gets a ResponseStarted audit event
// when its answer starts, and a ResponseComplete one when it ends.
var longRunning request.LongRunningRequestCheck = genericfilters.BasicLongRunningRequestCheck(
	sets.NewString("watch", "proxy"),
	sets.NewString("attach", "exec", "proxy", "log", "portforward"),
)

// auditRequestObject records the decoded body of a create or update in
// the request's audit event, as kube-apiserver's handlers do: its name
// and namespace complete the objectRef at every level, the object itself
// is kept from Request level up.
func auditRequestObject(c *gin.Context, obj runtime.Object, gv schema.GroupVersion) {
	ctx := c.Request.Context()
	if !audit.AuditContextFrom(ctx).Enabled() {
		return
	}
	audit.LogRequestObject(ctx, obj, gv, schema.GroupVersionResource{}, "", api.Codecs)
}

// auditRequestPatch records a patch body as sent (Request level and up).
func auditRequestPatch(c *gin.Context, patch []byte) {
	ctx := c.Request.Context()
	if !audit.AuditContextFrom(ctx).Enabled() {
		return
	}
	audit.LogRequestPatch(ctx, patch)
}

// auditResponse records the answer: a Status's reason and message in
// responseStatus, and from RequestResponse level the JSON body as
// written (what the client got, not re-encoded).
func auditResponse(c *gin.Context, obj any, data []byte) {
	ac := audit.AuditContextFrom(c.Request.Context())
	if !ac.Enabled() {
		return
	}
	level := ac.GetEventLevel()
	if level.Less(auditinternal.LevelMetadata) {
		return
	}
	status, _ := obj.(*metav1.Status)
	var body *runtime.Unknown
	if !level.Less(auditinternal.LevelRequestResponse) {
		body = &runtime.Unknown{Raw: data, ContentType: runtime.ContentTypeJSON}
	}
	ac.LogResponseObject(status, body)
}
