use super::*;
use crate::request::ApiError;

fn svc(name: &str) -> ServiceKey {
    ServiceKey::parse(None, None, name)
}

fn request_of(msg: &ClientMsg) -> &Request {
    match msg {
        ClientMsg::Request { request, .. } => request,
        other => panic!("not a request: {other:?}"),
    }
}

fn view(name: &str) -> ServiceView {
    ServiceView {
        service: svc(name),
        clusters: String::new(),
        hosts: Vec::new(),
        reach_protection_threshold: false,
        cache_millis: 10_000,
    }
}

#[test]
fn first_connection_redoes_nothing() {
    let mut c = ClientState::new();
    assert!(c.on_connected().is_empty());
    assert!(c.is_connected());
}

#[test]
fn registrations_and_subscriptions_are_redone_after_a_reconnect() {
    let mut c = ClientState::new();
    c.on_connected();
    let (a, _) = c.register(svc("a"), Instance::new("10.0.0.1", 1));
    let (b, _) = c.batch_register(
        svc("b"),
        vec![Instance::new("10.0.0.2", 2), Instance::new("10.0.0.3", 3)],
    );
    let (s, _) = c.subscribe(svc("a"), "DEFAULT");
    assert_eq!(c.in_flight(), 3);
    let failed = c.on_disconnected();
    assert_eq!(
        failed,
        vec![a, b, s],
        "in-flight requests are failed to their callers"
    );

    let redo = c.on_connected();
    let requests: Vec<&Request> = redo.iter().map(request_of).collect();
    assert_eq!(requests.len(), 3);
    assert!(
        matches!(requests[0], Request::Register { service, instance } if *service == svc("a") && instance.port == 1)
    );
    assert!(
        matches!(requests[1], Request::BatchRegister { instances, .. } if instances.len() == 2)
    );
    assert!(matches!(requests[2], Request::Subscribe { clusters, .. } if clusters == "DEFAULT"));
    // redo ids are fresh, and their replies are the client's own business
    let ids: Vec<RequestId> = redo
        .iter()
        .map(|m| match m {
            ClientMsg::Request { id, .. } => *id,
            _ => unreachable!(),
        })
        .collect();
    assert!(ids.iter().all(|id| ![a, b, s].contains(id)));
    assert_eq!(c.on_reply(ids[0], Reply::Ok), Completion::Redone);
    assert_eq!(
        c.on_reply(ids[2], Reply::Service(std::sync::Arc::new(view("a")))),
        Completion::RedoneView(view("a"))
    );
    // a late reply from the old connection is ignored
    assert_eq!(c.on_reply(a, Reply::Ok), Completion::Unknown);
}

#[test]
fn a_second_register_in_a_service_replaces_the_first() {
    let mut c = ClientState::new();
    c.on_connected();
    c.register(svc("a"), Instance::new("10.0.0.1", 1));
    c.register(svc("a"), Instance::new("10.0.0.1", 2));
    let regs: Vec<_> = c
        .registered()
        .map(|(s, i)| (s.clone(), i.len(), i[0].port))
        .collect();
    assert_eq!(regs, vec![(svc("a"), 1, 2)]);
}

#[test]
fn deregister_and_unsubscribe_stop_the_redo() {
    let mut c = ClientState::new();
    c.on_connected();
    c.register(svc("a"), Instance::new("10.0.0.1", 1));
    c.batch_register(
        svc("b"),
        vec![Instance::new("10.0.0.2", 2), Instance::new("10.0.0.3", 3)],
    );
    c.register(svc("c"), Instance::new("10.0.0.4", 4));
    c.subscribe(svc("a"), "");
    c.deregister(svc("a"), "10.0.0.1", 1);
    // like the member, a deregister withdraws the whole batch of that service
    c.deregister(svc("b"), "10.0.0.2", 2);
    c.unsubscribe(svc("a"), "");
    c.on_disconnected();
    let redo = c.on_connected();
    assert_eq!(redo.len(), 1);
    match request_of(&redo[0]) {
        Request::Register { service, instance } => {
            assert_eq!(*service, svc("c"));
            assert_eq!(instance.port, 4);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_register_is_not_redone_unless_replaced_meanwhile() {
    let mut c = ClientState::new();
    c.on_connected();
    let err = Reply::Error(ApiError::bad_request("bad"));
    let (first, _) = c.register(svc("a"), Instance::new("10.0.0.1", 1));
    assert_eq!(
        c.on_reply(first, err.clone()),
        Completion::Caller(err.clone())
    );
    assert_eq!(c.registered().count(), 0);

    let (old, _) = c.register(svc("b"), Instance::new("10.0.0.1", 1));
    let (_new, _) = c.register(svc("b"), Instance::new("10.0.0.1", 2));
    c.on_reply(old, err.clone());
    assert_eq!(
        c.registered().count(),
        1,
        "the error answers the replaced register only"
    );

    let (s, _) = c.subscribe(svc("c"), "");
    c.on_reply(s, err);
    assert_eq!(c.subscribed().count(), 0);
}

#[test]
fn writes_while_disconnected_are_remembered_and_sent_on_connect() {
    let mut c = ClientState::new();
    let (_, _msg_not_sent) = c.register(svc("a"), Instance::new("10.0.0.1", 1));
    assert_eq!(c.in_flight(), 0);
    let redo = c.on_connected();
    assert_eq!(redo.len(), 1);
    assert_eq!(c.in_flight(), 1);
}

#[test]
fn reads_are_answered_to_the_caller_and_not_redone() {
    let mut c = ClientState::new();
    c.on_connected();
    let (id, msg) = c.request(Request::Ping);
    assert_eq!(request_of(&msg), &Request::Ping);
    assert_eq!(c.on_reply(id, Reply::Pong), Completion::Caller(Reply::Pong));
    c.on_disconnected();
    assert!(c.on_connected().is_empty());
    assert_eq!(c.probe_ack(), ClientMsg::ProbeAck);
}
