# Generates openapi.json (the RWS API document served at /api/v2/openapi.json).
# Run: python3 crates/rws/api/generate.py — e2e/openapi.rs checks real responses against it.
import json
S=lambda t,**k: dict(type=t,**k)
string=S("string"); integer=S("integer"); boolean=S("boolean")
nstring={"type":["string","null"]}
numstr=S("string",pattern="^[0-9]+$")
ref=lambda n: {"$ref":f"#/components/schemas/{n}"}
obj=lambda props,req=None,**k: dict(type="object",properties=props,required=req if req is not None else list(props),**k)
arr=lambda it: S("array",items=it)
comp={
 "Envelope": obj({"statusCode":integer,"statusMessage":string},["statusCode"]),
 "Health": obj({"status":S("string",enum=["ok"]),"version":string}),
 "Ready": obj({"status":S("string",enum=["ready"]),"database":S("string",enum=["ok"]),"storage":S("string",enum=["ok"])}),
 "NotReady": obj({"statusCode":integer,"statusMessage":string,"status":S("string",enum=["not ready"]),"database":S("string",enum=["ok","unreachable"]),"storage":S("string",enum=["ok","unreachable"])}),
 "User": obj({"id":string,"userName":string,"firstName":string,"lastName":string,"roles":arr(string)}),
 "Device": obj({"dn":string,"switch":string}),
 "Capture": obj({"fps":integer,"quality":integer,"keyframe_interval_s":integer,"cursor":boolean}),
 "OpenSessionRequest": obj({"place":nstring,"devices":{"type":["array","null"],"items":ref("Device")},"srs_version":string,"hostname":nstring,"standby":boolean,"kind":S("string",enum=["native","browser"])},["srs_version"]),
 "OpenSession": obj({"session_id":string,"token":string,"control_url":string,"user":ref("User"),"place":string,"devices":arr(ref("Device")),"recording_when":string,"allowed_origins":arr(string),"capture":ref("Capture"),"recipients":arr(string),"heartbeat_interval_s":integer,"silence_timeout_s":integer}),
 "Session": obj({"session_id":string,"user":string,"place":string,"devices":arr(ref("Device")),"srs_version":string,"hostname":nstring,"connected_since":string,"last_heartbeat":nstring,"state":S("string",enum=["opened","connected","disconnected","standby"]),"recording":string,"upload_backlog_bytes":integer,"last_error":string,"kind":S("string",enum=["native","browser"])},["session_id","user","place","devices","state","upload_backlog_bytes"]),
 "Sessions": obj({"sessions":arr(ref("Session"))}),
 "Origins": obj({"allowed_origins":arr(string)}),
 "Command": {"type":"object","required":["command"],"properties":{"command":S("string",enum=["config","bye"]),"capture":ref("Capture"),"allowed_origins":arr(string)}},
 "CommandResult": obj({"seq":integer,"ok":boolean,"error":nstring},["seq","ok"]),
 "CommandQueued": obj({"seq":integer,"queued":S("boolean",enum=[True]),"statusMessage":string}),
 "Event": {"type":"object","required":["id","type","timestamp"],"properties":{"id":string,"type":string,"timestamp":S("string",format="date-time"),"call_id":string,"interaction_id":string,"dn":string,"switch":string,"media":string,"queue":string,"agent":string,"direction":string,"ani":string,"dnis":string,"attached_data":S("object")}},
 "IntakeResult": obj({"accepted":integer,"duplicates":integer}),
 "Timeline": obj({"events":arr(ref("Event"))}),
 "MediaFile": obj({"mediaId":string,"mediaUri":string,"type":S("string",enum=["video/mp4"]),"startTime":string,"stopTime":string,"duration":numstr,"size":numstr,
   "parameters":obj({"agentId":string,"connId":string,"recordingId":string,"stream":numstr,"monitor":{},"monitorGeometry":{},"state":string,"stored":boolean,"uploadedBytes":numstr,"uploadComplete":boolean})}),
 "Interaction": obj({"id":string,"media":string,"dn":nstring,"startTime":string,"stopTime":nstring,"startOffset":{"type":["string","null"]},"stopOffset":{"type":["string","null"]}}),
 "Mark": obj({"time":string,"offset":{"type":["string","null"]},"type":S("string",enum=["paused","resumed","masked","unmasked","app","gap","gap_end"]),"reason":string,"class":S("string",description="app marks only: the window's WM_CLASS (also the reason)"),"title":S(["string","null"],description="app marks only: the window's title, the masking rule's name for a masked window, null when the directory sets app_titles = false")},["time","offset","type","reason"]),
 "RecordingState": S("string",enum=["requested","recording","paused","finalizing","completed","partial","failed"]),
 "ScreenRecording": obj({"id":string,"agentId":string,"dn":nstring,"connId":string,"media":string,"state":ref("RecordingState"),"reason":nstring,"startTime":string,"stopTime":nstring,"interactions":arr(ref("Interaction")),"marks":arr(ref("Mark")),"labels":arr(string),"legalHold":boolean,"holdReason":nstring,"callerPhoneNumber":nstring,"dialedPhoneNumber":nstring}),
 "Recording": obj({"id":string,"startTime":nstring,"stopTime":nstring,"mediaFiles":arr(ref("MediaFile")),"screenRecordings":arr(ref("ScreenRecording"))}),
 "SearchMedia": obj({"mediaId":string,"mediaUri":string,"duration":numstr,"size":numstr,"monitor":{},"stored":boolean}),
 "RecordingSummary": obj({"id":string,"callId":string,"agentId":string,"dn":nstring,"media":string,"state":ref("RecordingState"),"reason":nstring,"startTime":string,"stopTime":nstring,"duration":numstr,"callerPhoneNumber":nstring,"dialedPhoneNumber":nstring,"labels":arr(string),"hasPause":boolean,"legalHold":boolean,"mediaFiles":arr(ref("SearchMedia"))}),
 "Search": obj({"recordings":arr(ref("RecordingSummary")),"next":nstring,"prev":nstring}),
 "SigningKey": obj({"algorithm":S("string",enum=["ed25519"]),"key_id":S("string",pattern="^[0-9a-f]{16}$"),"pem":string,"public_key":string}),
 "AuditEntry": obj({"id":numstr,"time":string,"user":string,"action":string,"target":string,"detail":string,"remote":nstring}),
 "Audit": obj({"entries":arr(ref("AuditEntry"))}),
 "Hold": obj({"hold":boolean,"reason":string},["hold"]),
 "AgentHold": obj({"agent":string,"from":string,"to":string,"reason":string,"hold":boolean},["agent","from","to","reason"]),
 "HoldResult": obj({"recordings":integer,"hold":boolean}),
 "LabelResult": obj({"recordings":integer,"label":string,"added":boolean}),
 "DeleteResult": obj({"deleted":integer}),
 "PurgeReport": obj({"purged":integer,"held":integer}),
 "Login": obj({"username":string,"password":string}),
 "LoginResult": obj({"user":ref("User"),"csrfToken":string}),
 "RecordingEnd": obj({"reason":string,"interrupted":boolean,"stopped_at":string,"media_files":integer,"marks":arr(obj({"at":string,"kind":string,"reason":string})),"apps":S("array",items=obj({"at":string,"class":S("string",minLength=1,maxLength=128),"title":S(["string","null"],maxLength=256)},["at","class"]),maxItems=1000)},["reason","interrupted","stopped_at","media_files"]),
 "Me": obj({"user":ref("User"),"roles":arr(string),"groups":arr(obj({"group":string,"role":S("string",enum=["agent","supervisor"])})),
   "settings":obj({"agents_see_own":boolean,"live_view":S("string",enum=["recording","always"]),"supervisors_may_download":boolean}),
   "may":obj({"search":boolean,"ownRecordingsOnly":boolean,"live":boolean,"failures":boolean,"download":boolean,"audit":boolean})}),
 "EndResult": obj({"id":string,"state":ref("RecordingState")}),
}
def js(schema): return {"content":{"application/json":{"schema":schema}}}
def resp(code,desc,schema=None,extra=None):
  r={"description":desc}
  if schema: r.update(js(schema))
  if extra: r.update(extra)
  return code,r
ERR=ref("Envelope")
def op(summary,security,responses,body=None,params=None,tags=None):
  o={"summary":summary,"responses":{}}
  for code,r in responses: o["responses"][str(code)]=r
  for code,d in [(400,"Bad input: the message names what is wrong"),(401,"No or wrong credentials"),(403,"Not allowed"),(404,"Not found"),
                 (429,"Too many failed logins from this address for this user (Retry-After); any request with Basic credentials"),
                 (503,"Password checks are all busy (Retry-After); any request with Basic credentials")]:
    o["responses"].setdefault(str(code),{"description":d,**js(ERR)})
  if security is not None: o["security"]=security
  if body:
    o["requestBody"]={"required":True,**js(body)}
    o["responses"].setdefault("413",{"description":"Body larger than the limit (256 KiB)",**js(ERR)})
    o["responses"].setdefault("408",{"description":"The body did not arrive within the body timeout",**js(ERR)})
  if params: o["parameters"]=params
  if tags: o["tags"]=tags
  return o
basic=[{"basic":[]},{"console":[]}]
p=lambda name,where="path",schema=string,req=True,desc=None: {"name":name,"in":where,"required":req,"schema":schema,**({"description":desc} if desc else {})}
q=lambda name,schema=string,desc=None: p(name,"query",schema,False,desc)
tus=[{"name":"Tus-Resumable","in":"header","required":True,"schema":S("string",enum=["1.0.0"])}]
paths={
 "/healthz":{"get":op("Liveness",[],[resp(200,"Up",ref("Health"))],tags=["operations"])},
 "/readyz":{"get":op("Readiness for load balancers: the database answers a query and the media store a listing",[],[resp(200,"Ready",ref("Ready")),resp(503,"Not ready: names what is unreachable (details in the RWS log)",ref("NotReady"))],tags=["operations"])},
 "/metrics":{"get":op("Prometheus metrics (text format 0.0.4)",[],[resp(200,"Metrics",extra={"content":{"text/plain":{"schema":string}}})],tags=["operations"])},
 "/api/v2/openapi.json":{"get":op("This document",[],[resp(200,"OpenAPI 3.1",S("object"))],tags=["operations"])},
 "/api/v2/srs/sessions":{
   "post":op("Open an SRS session (SRS forwards the agent's Basic credentials)",[{"basic":[]}],[resp(201,"Opened",ref("OpenSession")),resp(409,"The place or one of its DNs is held by another user's live session (named)",ERR)],body=ref("OpenSessionRequest"),tags=["srs"]),
   "get":op("List SRS sessions (admin, supervisor)",basic,[resp(200,"Sessions",ref("Sessions"))],params=[q("include",S("string",enum=["standby"]))],tags=["srs"])},
 "/api/v2/srs/sessions/{id}":{"delete":op("End a session (its SRS, or an admin)",[{"bearer":[]},{"basic":[]}],[resp(204,"Ended")],params=[p("id")],tags=["srs"])},
 "/api/v2/srs/sessions/{id}/commands":{"post":op("Send a command to a session's SRS (admin)",basic,[resp(200,"Acknowledged",ref("CommandResult")),resp(202,"Not acknowledged within timeout_s: queued, delivered when SRS (re)connects",ref("CommandQueued"))],body=ref("Command"),params=[p("id"),q("timeout_s",integer)],tags=["srs"])},
 "/api/v2/srs/origins":{"get":op("Desktop origins SRS must allow",[],[resp(200,"Origins",ref("Origins"))],tags=["srs"])},
 "/api/v2/srs/control":{"get":op("Control channel (WebSocket; Bearer session token)",[{"bearer":[]}],[resp(101,"Switching protocols")],tags=["srs"])},
 "/api/v2/srs/uploads":{
   "options":op("tus capabilities",[],[resp(204,"Tus-Version, Tus-Extension, Tus-Checksum-Algorithm, Tus-Max-Size")],tags=["upload"]),
   "post":op("tus creation: one media file (Bearer upload token)",[{"bearer":[]}],[resp(201,"Created; Location is the upload URL"),resp(410,"The recording is final",ERR),resp(412,"Tus-Resumable missing",ERR),resp(413,"Beyond Tus-Max-Size or the session's quota of unfinished bytes",ERR),resp(429,"The session has too many unfinished uploads",ERR)],params=tus+[{"name":"Upload-Length","in":"header","required":False,"schema":integer},{"name":"Upload-Defer-Length","in":"header","required":False,"schema":S("string",enum=["1"])},{"name":"Upload-Metadata","in":"header","required":False,"schema":string}],tags=["upload"])},
 "/api/v2/srs/uploads/{id}":{
   "head":op("tus offset",[{"bearer":[]}],[resp(200,"Upload-Offset, Upload-Length or Upload-Defer-Length"),resp(412,"Tus-Resumable missing",ERR)],params=[p("id")]+tus,tags=["upload"]),
   "patch":op("tus append (application/offset+octet-stream)",[{"bearer":[]}],[resp(204,"Appended; Upload-Offset"),resp(409,"Upload-Offset mismatch",ERR),resp(410,"Closed",ERR),resp(412,"Tus-Resumable missing",ERR),resp(413,"Beyond Upload-Length",ERR),resp(415,"Wrong Content-Type",ERR),resp(422,"The first segment is not an age stream a tenant key opens",ERR),resp(460,"Checksum mismatch",ERR)],params=[p("id")]+tus+[{"name":"Upload-Offset","in":"header","required":True,"schema":integer},{"name":"Upload-Checksum","in":"header","required":False,"schema":string},{"name":"screenrec-segments","in":"header","required":False,"schema":string}],tags=["upload"]),
   "delete":op("tus termination",[{"bearer":[]}],[resp(204,"Terminated"),resp(410,"The recording is final",ERR),resp(412,"Tus-Resumable missing",ERR)],params=[p("id")]+tus,tags=["upload"]),
   "options":op("tus capabilities",[],[resp(204,"Capabilities")],params=[p("id")],tags=["upload"])},
 "/api/v2/srs/previews/{id}/{stream}/{seq}":{"put":op("One age-encrypted segment of an on-demand live preview (seq 0: the init segment), from the agent's SRS (Bearer preview token), on any RWS node; held for the viewers while the preview runs, deleted when it ends",[{"bearer":[]}],[resp(204,"Taken"),resp(400,"Not an age-encrypted segment, a bad stream or seq, or more than 16 monitors",ERR),resp(401,"Not the preview's token",ERR),resp(404,"No such preview runs (SRS stops it)",ERR),resp(409,"A replayed or out-of-order segment, or a fragment before the init",ERR),resp(410,"The preview is over",ERR),resp(413,"Segment too large, or past the preview's 16 MiB",ERR)],body=None,params=[p("id"),p("stream"),p("seq")],tags=["upload"])},
 "/api/v2/srs/recordings/{id}/end":{"put":op("Every media file uploaded: finish the recording (Bearer upload token)",[{"bearer":[]}],[resp(200,"State",ref("EndResult")),resp(409,"A media file is not complete",ERR)],body=ref("RecordingEnd"),params=[p("id")],tags=["upload"])},
 "/api/v2/events":{"post":op("Telephony/chat events, one or an array (Bearer integration token)",[{"bearer":[]}],[resp(200,"Taken",ref("IntakeResult"))],body={"oneOf":[ref("Event"),arr(ref("Event"))]},tags=["events"])},
 "/api/v2/interactions/{id}/events":{"get":op("A call's or interaction's events in time order (admin; supervisor for their groups' calls)",basic,[resp(200,"Timeline",ref("Timeline"))],params=[p("id")],tags=["events"])},
 "/api/v2/auth/login":{"post":op("Console login: cookie RWSSESSION and a CSRF token",[],[resp(200,"Logged in",ref("LoginResult")),resp(429,"Locked after repeated failures",ERR)],body=ref("Login"),tags=["console"])},
 "/api/v2/auth/logout":{"post":op("Console logout",[],[resp(200,"Logged out",ERR)],tags=["console"])},
 "/api/v2/me":{"get":op("Who the caller is: user, roles, groups, and what they may do (any authenticated user, only about themselves)",basic,[resp(200,"The caller",ref("Me"))],tags=["console"])},
 "/api/v2/recordings":{"get":op("Search screen recordings",basic,[resp(200,"A page",ref("Search"))],params=[q("agent"),q("group"),q("from",S("string",format="date-time")),q("to",S("string",format="date-time")),q("call_id"),q("state",S("string",pattern="^(requested|recording|paused|finalizing|completed|partial|failed)(,(requested|recording|paused|finalizing|completed|partial|failed))*$"),"one state, or several comma-separated"),q("label"),q("has_pause",S("string",enum=["true","false"])),q("min_duration",integer),q("max_duration",integer),q("caller",desc="* wildcard"),q("dialed",desc="* wildcard"),q("app",S("string",minLength=1,maxLength=64),"an app on the recording's timeline: glob (* and ?) on its WM_CLASS, case-insensitive"),q("sort",S("string",enum=["startTime","-startTime"])),q("limit",S("integer",minimum=1,maximum=200)),q("cursor")],tags=["recordings"])},
 "/api/v2/recordings/events":{"get":op("Recording state changes (server-sent events; each `id:` is the event's place in the event log, and a reconnect with Last-Event-ID replays what was missed, up to 1000 events of the last hour, filtered by the viewer's groups)",basic,[resp(200,"text/event-stream",extra={"content":{"text/event-stream":{"schema":string}}}),resp(400,"Last-Event-ID is not a decimal number of at most 18 digits",ERR)],params=[{"name":"Last-Event-ID","in":"header","required":False,"schema":S("string",pattern="^[0-9]{1,18}$"),"description":"the id of the last event received (on reconnect)"}],tags=["recordings"])},
 "/api/v2/recordings/{call_id}":{
   "get":op("A call's screen recordings (GIR recording resource)",basic,[resp(200,"Recording",ref("Recording"))],params=[p("call_id")],tags=["recordings"]),
   "delete":op("Delete a call's screen recordings (admin)",basic,[resp(200,"Deleted",ref("DeleteResult")),resp(409,"On legal hold, or still recording",ERR)],params=[p("call_id")],tags=["compliance"])},
 "/api/v2/recordings/{call_id}/play/{media_id}":{"get":op("The decrypted MP4 (Range)",basic,[resp(200,"video/mp4",extra={"content":{"video/mp4":{"schema":S("string",format="binary")}}}),resp(206,"Partial content",extra={"content":{"video/mp4":{"schema":S("string",format="binary")}}}),resp(416,"Range not satisfiable",ERR)],params=[p("call_id"),p("media_id"),{"name":"Range","in":"header","required":False,"schema":string}],tags=["recordings"])},
 "/api/v2/recordings/{call_id}/download/{media_id}":{"get":op("The decrypted MP4 as an attachment (audited)",basic,[resp(200,"video/mp4",extra={"content":{"video/mp4":{"schema":S("string",format="binary")}}}),resp(206,"Partial content")],params=[p("call_id"),p("media_id")],tags=["recordings"])},
 "/api/v2/recordings/{call_id}/export":{"get":op("Signed evidence bundle (zip: decrypted MP4s, events.json, manifest.json, manifest.sig, signing-key.pem) of a final recording of the call (admin; supervisor allowed to download, their groups; audited). `screenrec verify` checks it offline",basic,[resp(200,"application/zip",extra={"content":{"application/zip":{"schema":S("string",format="binary")}}}),resp(400,"The call has several screen recordings: pick one with ?recording=",ERR),resp(404,"No such call or recording (or another group's)",ERR),resp(409,"The recording is not final yet",ERR)],params=[p("call_id"),q("recording",desc="the screen recording's id, when the call has several")],tags=["recordings"])},
 "/api/v2/keys/signing":{"get":op("The tenant's public Ed25519 key that signs evidence manifests (any signed-in user)",basic,[resp(200,"The key",ref("SigningKey"))],tags=["recordings"])},
 "/api/v2/recordings/{call_id}/hold":{"put":op("Legal hold on/off (admin)",basic,[resp(200,"Done",ref("HoldResult"))],body=ref("Hold"),params=[p("call_id")],tags=["compliance"])},
 "/api/v2/recordings/{call_id}/labels/{label}":{
   "put":op("Add a label",basic,[resp(200,"Done",ref("LabelResult"))],params=[p("call_id"),p("label")],tags=["compliance"]),
   "delete":op("Remove a label",basic,[resp(200,"Done",ref("LabelResult"))],params=[p("call_id"),p("label")],tags=["compliance"])},
 "/api/v2/holds":{"post":op("Legal hold on an agent's recordings in a time range (admin)",basic,[resp(200,"Done",ref("HoldResult"))],body=ref("AgentHold"),tags=["compliance"])},
 "/api/v2/retention/run":{"post":op("Apply the retention rules now (admin)",basic,[resp(200,"Report",ref("PurgeReport"))],tags=["compliance"])},
 "/api/v2/live/{agent}":{"get":op("The agent's screen live: fragmented MP4 (init, then fragments as they land), chunked, while a recording runs, or (directory live_view = always) from an on-demand preview that stores nothing; audited (supervisor of the agent's groups, admin)",basic,[resp(200,"video/mp4, chunked",extra={"content":{"video/mp4":{"schema":S("string",format="binary")}}}),resp(409,"The agent is not being recorded (live_view = recording), or has no SRS session / SRS refused the preview (live_view = always)",ERR),resp(504,"live_view = always: SRS sent no screen in time",ERR),resp(429,"Too many live viewers (of this recording, or on this server)",ERR)],params=[p("agent"),q("monitor",S("integer",minimum=0,maximum=63),"monitor (stream) number, default 0")],tags=["recordings"])},
 "/api/v2/audit":{"get":op("The audit log (admin)",basic,[resp(200,"Entries",ref("Audit"))],params=[q("user"),q("action"),q("target"),q("from"),q("to"),q("limit",S("integer",minimum=1,maximum=1000))],tags=["compliance"])},
}
doc={"openapi":"3.1.0","info":{"title":"screenrec RWS","version":"0.1.0","license":{"name":"Apache-2.0","identifier":"Apache-2.0"},
 "description":"The Recording Web Service of screenrec. Errors are the GWS envelope {statusCode, statusMessage}. Numbers in the GIR-shaped resources are strings."},
 "servers":[{"url":"/"}],
 "components":{"schemas":comp,"securitySchemes":{
   "basic":{"type":"http","scheme":"basic"},
   "bearer":{"type":"http","scheme":"bearer","description":"SRS session token, recording upload token, or integration token, by endpoint"},
   "console":{"type":"apiKey","in":"cookie","name":"RWSSESSION"}}},
 "paths":paths}
import os; open(os.path.join(os.path.dirname(os.path.abspath(__file__)),'openapi.json'),'w').write(json.dumps(doc,indent=1)+"\n")
