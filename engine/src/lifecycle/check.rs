//! CHECK: deferred work run by the engine later, with a token from deferred
//! auth (trust-scoped, or the owner's password).

use super::delete::short_keystone;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::store::StackRow;

// ---- check (deferred work) --------------------------------------------------------

/// CHECK, run later by the engine: a token from deferred auth (trust-scoped
/// for the heat service user, or the owner's password), used against Keystone
/// to confirm the owner's project is still reachable with it, then every stack
/// domain user is confirmed to exist.
pub(crate) async fn check(engine: Engine, stack_id: String) {
    let store = engine.store();
    let Ok(Some(stack)) = store.stack(&stack_id).await else {
        return;
    };
    let outcome = check_inner(&engine, &stack).await;
    let (status, reason) = match outcome {
        Ok(()) => ("COMPLETE", "Stack CHECK completed successfully".to_owned()),
        Err(r) => ("FAILED", r),
    };
    if store
        .finish_stack(&stack_id, "CHECK", status, &reason)
        .await
        .unwrap_or(false)
    {
        let _ = store
            .add_event(
                &stack_id,
                &stack.name,
                "OS::Heat::Stack",
                Some(&stack_id),
                "CHECK",
                status,
                &reason,
            )
            .await;
    }
}

async fn check_inner(engine: &Engine, stack: &StackRow) -> Result<(), String> {
    let token = engine.deferred_token(stack).await.map_err(|e| {
        format!(
            "Stack CHECK failed: deferred authentication: {}",
            short_keystone(&e)
        )
    })?;
    let answer = engine
        .inner
        .service
        .user_call(
            &token,
            http::Method::GET,
            &format!("projects/{}", urlencoding::encode(&stack.tenant)),
            "",
            None,
            "project lookup",
        )
        .await
        .map_err(|e| {
            format!(
                "Stack CHECK failed: {}",
                short_keystone(&EngineError::from(e))
            )
        })?;
    if !answer.status.is_success() {
        return Err(format!(
            "Stack CHECK failed: the deferred token cannot read project {} ({})",
            stack.tenant, answer.status
        ));
    }
    for r in engine
        .store()
        .resources(&stack.id)
        .await
        .map_err(|e| e.to_string())?
    {
        let mut status = "COMPLETE";
        let mut reason = "state changed".to_owned();
        if let Some(user) = &r.user_id {
            match engine.inner.domain.user_exists(user).await {
                Ok(true) => {}
                Ok(false) => {
                    status = "FAILED";
                    reason = format!("the stack user of {} no longer exists", r.name);
                }
                Err(e) => {
                    status = "FAILED";
                    reason = short_keystone(&e);
                }
            }
        }
        let _ = engine
            .store()
            .add_event(
                &stack.id,
                &r.name,
                &r.type_name,
                r.physical_id.as_deref(),
                "CHECK",
                status,
                &reason,
            )
            .await;
        if status == "FAILED" {
            return Err(format!("Resource CHECK failed: {reason}"));
        }
    }
    Ok(())
}
