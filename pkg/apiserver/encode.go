package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	"github.com/gin-gonic/gin"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

func writeJSON(c *gin.Context, code int, obj any) {
	data, err := json.Marshal(obj)
	if err != nil {
		code = http.StatusInternalServerError
		obj = toStatus(apierrors.NewInternalError(err))
		data, _ = json.Marshal(obj)
	}
	auditResponse(c, obj, data)
	c.Data(code, "application/json", data)
}

func writeError(c *gin.Context, err error) {
	st := toStatus(err)
	writeJSON(c, int(st.Code), st)
}

// output is the representation a client asked for in Accept.
type output int

const (
	asObject output = iota
	asTable
	asMetadata
)

func outputOf(c *gin.Context) output {
	for _, part := range strings.Split(c.GetHeader("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || (mt != "application/json" && mt != "*/*") {
			continue
		}
		if params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
			continue
		}
		switch params["as"] {
		case "Table":
			return asTable
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			return asMetadata
		}
	}
	return asObject
}

// withoutTable is the representation for an endpoint that, as upstream's
// review kinds, has no Table conversion: a Table is not offered, so an
// Accept that asks for nothing else is 406 Not Acceptable, as upstream's
// content negotiation answers it; one that also takes a plain type gets
// the object.
func withoutTable(c *gin.Context) (output, error) {
	mode := outputOf(c)
	if mode != asTable {
		return mode, nil
	}
	for _, part := range strings.Split(c.GetHeader("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["as"] == "Table" {
			continue
		}
		switch mt {
		case "*/*", "application/*", runtime.ContentTypeJSON, runtime.ContentTypeYAML, runtime.ContentTypeProtobuf:
			switch params["as"] {
			case "":
				return asObject, nil
			case "PartialObjectMetadata":
				return asMetadata, nil
			}
		}
	}
	return asObject, notAcceptable()
}

// notAcceptable is upstream's negotiation failure: 406 with the media
// types the server serializes.
func notAcceptable() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotAcceptable, Reason: metav1.StatusReason("NotAcceptable"),
		Message: "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
	}}
}

// wantsProtobuf reports whether the client prefers Kubernetes' protobuf
// for whole objects: the first type in Accept that the server can produce
// is application/vnd.kubernetes.protobuf with no "as=" (client-go's typed
// clients send "application/vnd.kubernetes.protobuf,application/json").
func wantsProtobuf(c *gin.Context) bool {
	if r, ok := c.Get(ctxCustom); ok && r.(bool) {
		// Custom resources have no protobuf form: JSON, as
		// kube-apiserver answers them.
		return false
	}
	for _, part := range strings.Split(c.GetHeader("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case runtime.ContentTypeProtobuf:
			if _, as := params["as"]; !as {
				return true
			}
		case runtime.ContentTypeJSON, "*/*":
			return false
		}
	}
	return false
}

func partialMeta(obj runtime.Object) *metav1.PartialObjectMetadata {
	pm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}}
	switch o := obj.(type) {
	case interface{ GetObjectMeta() metav1.Object }:
		if om, ok := o.GetObjectMeta().(*metav1.ObjectMeta); ok {
			pm.ObjectMeta = *om
		}
	case *unstructured.Unstructured:
		// A custom resource: its metadata read as ObjectMeta.
		if om, _, err := schemaobjectmeta.GetObjectMeta(o.Object, true); err == nil && om != nil {
			pm.ObjectMeta = *om
		}
	}
	return pm
}

// table renders objs as the resource's Table with the row objects
// includeObject asks for.
func table(c *gin.Context, r *api.Resource, objs []runtime.Object, noHeaders bool) (*metav1.Table, error) {
	if served := servedOf(c); served != nil && served.CRD != nil {
		// A version's printer columns read objects of that version.
		shown, err := api.ConvertCustomList(objs, served)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		objs = shown
	}
	t, err := r.Strategy.Table(objs, api.TableOptions{NoHeaders: noHeaders})
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	t.TypeMeta = metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}
	include := c.Query("includeObject")
	for i := range t.Rows {
		var obj runtime.Object
		if i < len(objs) {
			obj = objs[i]
		}
		switch {
		case obj == nil || include == "None":
			t.Rows[i].Object = runtime.RawExtension{}
		case include == "Object":
			shown, err := toServed(c, obj)
			if err != nil {
				return nil, err
			}
			raw, err := json.Marshal(shown)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			t.Rows[i].Object = runtime.RawExtension{Raw: raw}
		default:
			raw, err := json.Marshal(partialMeta(obj))
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			t.Rows[i].Object = runtime.RawExtension{Raw: raw}
		}
	}
	return t, nil
}

// represent gives what goes on the wire for one object.
func represent(c *gin.Context, r *api.Resource, obj runtime.Object, mode output) (any, error) {
	switch mode {
	case asTable:
		return table(c, r, []runtime.Object{obj}, false)
	case asMetadata:
		return partialMeta(obj), nil
	}
	return toServed(c, obj)
}

func writeObject(c *gin.Context, code int, r *api.Resource, obj runtime.Object) {
	writeObjectAs(c, code, r, obj, outputOf(c))
}

func writeObjectAs(c *gin.Context, code int, r *api.Resource, obj runtime.Object, mode output) {
	out, err := represent(c, r, obj, mode)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, code, out)
}

// writeList writes a list of r's objects without building the typed list.
func writeList(c *gin.Context, r *api.Resource, items []runtime.Object, lm metav1.ListMeta) {
	switch outputOf(c) {
	case asTable:
		t, err := table(c, r, items, false)
		if err != nil {
			writeError(c, err)
			return
		}
		t.ListMeta = lm
		writeJSON(c, http.StatusOK, t)
		return
	case asMetadata:
		l := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"}, ListMeta: lm}
		for _, it := range items {
			l.Items = append(l.Items, *partialMeta(it))
		}
		writeJSON(c, http.StatusOK, l)
		return
	}
	if served := servedOf(c); served != nil && served.CRD != nil {
		// One conversion for the list (one ConversionReview).
		shown, err := api.ConvertCustomList(items, served)
		if err != nil {
			writeError(c, apierrors.NewInternalError(err))
			return
		}
		items, r = shown, served
	} else if served != nil {
		shown := make([]runtime.Object, len(items))
		for i, it := range items {
			var err error
			if shown[i], err = toServed(c, it); err != nil {
				writeError(c, err)
				return
			}
		}
		items, r = shown, served
	}
	var buf bytes.Buffer
	buf.Grow(256 + 1024*len(items))
	gv := r.GroupVersion().String()
	lmData, err := json.Marshal(lm)
	if err != nil {
		writeError(c, apierrors.NewInternalError(err))
		return
	}
	fmt.Fprintf(&buf, `{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`, r.ListKind, gv, lmData)
	enc := json.NewEncoder(&buf)
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(it); err != nil {
			writeError(c, apierrors.NewInternalError(err))
			return
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteString("]}")
	auditResponse(c, nil, buf.Bytes())
	c.Data(http.StatusOK, "application/json", buf.Bytes())
}

// writeRawList writes stored JSON items as r's list.
func writeRawList(c *gin.Context, r *api.Resource, items []storage.RawObject, lm metav1.ListMeta) {
	lmData, err := json.Marshal(lm)
	if err != nil {
		writeError(c, apierrors.NewInternalError(err))
		return
	}
	size := 128 + len(lmData)
	for _, it := range items {
		size += len(it.Data) + 40
	}
	buf := make([]byte, 0, size)
	buf = fmt.Appendf(buf, `{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`, r.ListKind, r.GroupVersion().String(), lmData)
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = storage.AppendResourceVersion(buf, it.Data, it.Revision)
	}
	buf = append(buf, "]}"...)
	auditResponse(c, nil, buf)
	c.Header("Content-Length", strconv.Itoa(len(buf)))
	c.Data(http.StatusOK, "application/json", buf)
}

// readBody reads at most maxBodyBytes; more is a 413.
func readBody(c *gin.Context) ([]byte, error) {
	if c.Request.ContentLength > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", maxBodyBytes))
	}
	data, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest("reading the request body: " + err.Error())
	}
	if len(data) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", maxBodyBytes))
	}
	if c.Request.Method == http.MethodPatch {
		auditRequestPatch(c, data)
	}
	return data, nil
}

// decodeRequest decodes the body (JSON, YAML or protobuf, as
// client-go sends by default) as want.
func (s *Server) decodeRequest(c *gin.Context, want schema.GroupVersionKind, newObj func() runtime.Object) (runtime.Object, error) {
	mt, _, _ := mime.ParseMediaType(c.ContentType())
	if mt != runtime.ContentTypeProtobuf {
		data, err := bodyJSON(c)
		if err != nil {
			return nil, err
		}
		obj, err := s.decodeInto(c, data, want, newObj)
		if err == nil {
			auditRequestObject(c, obj, want.GroupVersion())
		}
		return obj, err
	}
	data, err := readBody(c)
	if err != nil {
		return nil, err
	}
	into := newObj()
	obj, gvk, err := s.proto.Decode(data, &want, into)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as %s: %v", want.Kind, err))
	}
	if gvk == nil || *gvk != want || obj != into {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body is a %v, this path takes %s", gvk, want.String()))
	}
	obj.GetObjectKind().SetGroupVersionKind(want)
	auditRequestObject(c, obj, want.GroupVersion())
	return obj, nil
}

// bodyJSON reads the body as JSON (YAML is converted).
func bodyJSON(c *gin.Context) ([]byte, error) {
	data, err := readBody(c)
	if err != nil {
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(c.ContentType())
	switch mt {
	case "", "application/json", "*/*":
	case "application/yaml", "application/x-yaml", "text/yaml":
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, apierrors.NewBadRequest("the body is not valid YAML: " + err.Error())
		}
		data = j
	default:
		return nil, unsupportedMediaType(fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got %q)", mt))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	return data, nil
}

// decodeInto decodes JSON data strictly as want (the kind the path
// serves) into a new object from newObj. Unknown and duplicate fields
// become Warning headers, or an error under fieldValidation=Strict.
func (s *Server) decodeInto(c *gin.Context, data []byte, want schema.GroupVersionKind, newObj func() runtime.Object) (runtime.Object, error) {
	into := newObj()
	obj, gvk, err := s.strict.Decode(data, &want, into)
	var strictErrs []error
	if err != nil {
		if se, ok := runtime.AsStrictDecodingError(err); ok && obj != nil {
			strictErrs = se.Errors()
		} else {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as %s: %v", want.Kind, err))
		}
	}
	if gvk == nil || *gvk != want {
		got := "(none)"
		if gvk != nil {
			got = gvk.String()
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body is a %s, this path takes %s", got, want.String()))
	}
	if obj != into {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body decoded to %T, want %T", obj, into))
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		// A custom resource: pruned and normalized as its schema says;
		// what was pruned is an unknown field.
		unknown, err := s.coerceCustom(want, u)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as %s: %v", want.Kind, err))
		}
		for _, p := range unknown {
			strictErrs = append(strictErrs, fmt.Errorf("unknown field %q", p))
		}
	}
	if err := fieldValidation(c, strictErrs, want, data, c.Request.Method == http.MethodPatch); err != nil {
		return nil, err
	}
	// The typed object carries its kind so it is stored with it.
	obj.GetObjectKind().SetGroupVersionKind(want)
	return obj, nil
}

// fieldValidation applies ?fieldValidation= to strict decoding errors,
// with upstream's answers under Strict: a body that cannot be handled is
// 400 (`Pod in version "v1" cannot be handled as a Pod: strict decoding
// error: unknown field "spec.foo"`), a patch whose result has unknown
// fields is 422 on the field "patch" (data is the patched object).
func fieldValidation(c *gin.Context, errs []error, want schema.GroupVersionKind, data []byte, patched bool) error {
	if len(errs) == 0 {
		return nil
	}
	switch c.Query("fieldValidation") {
	case "Ignore":
		return nil
	case "Strict":
		strictErr := runtime.NewStrictDecodingError(errs)
		if patched {
			return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), string(data), strictErr.Error())})
		}
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", want.Kind, want.Version, want.Kind, strictErr))
	default:
		for _, e := range errs {
			addWarning(c, e.Error())
		}
		return nil
	}
}

func addWarning(c *gin.Context, msg string) {
	c.Writer.Header().Add("Warning", "299 - "+strconv.Quote(msg))
}

// coerceCustom prunes and normalizes a decoded custom resource of kind
// want (see api.CustomResourceInfo.Coerce).
func (s *Server) coerceCustom(want schema.GroupVersionKind, u *unstructured.Unstructured) ([]string, error) {
	r, ok := s.table().LookupKind(want)
	if !ok || r.CRD == nil {
		return nil, nil
	}
	return r.CRD.Coerce(u)
}
