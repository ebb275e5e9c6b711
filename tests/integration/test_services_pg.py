"""The service tests of the unit ring, run again on PostgreSQL (as a non-superuser, under RLS).

They are imported, not copied: the same assertions must hold on both backends. The few unit
tests that read the SQLite file or drop SQLite triggers stay in the unit ring.
"""

from __future__ import annotations

from tests.unit.test_accounts import (  # noqa: F401
    test_a_failed_first_run_writes_nothing_and_can_be_retried,
    test_api_tokens_are_shown_once_hashed_and_revocable,
    test_control_characters_in_a_sign_in_are_a_clean_failure,
    test_failed_logins_are_rate_limited_per_account_with_a_retry_time,
    test_failed_logins_are_rate_limited_per_ip,
    test_first_run_setup_only_once,
    test_login_success_and_failure_are_audited,
    test_members_and_roles,
    test_project_and_token_names_refuse_control_characters,
    test_sessions_store_only_a_hash_and_end_server_side,
)
from tests.unit.test_audit import (  # noqa: F401
    test_an_absurd_cursor_is_invalid_input,
    test_export_streams_in_batches,
    test_filters_at_the_edges_are_invalid_input,
    test_filters_paging_and_export,
    test_outsiders_cannot_read_the_log,
    test_seq_is_gapless_and_each_event_links_to_the_previous,
)
from tests.unit.test_keys import (  # noqa: F401
    test_a_compromised_revocation_is_never_downgraded,
    test_a_grace_period_can_be_brought_forward_not_extended,
    test_a_refused_signing_is_audited_with_the_client,
    test_ciphertext_copied_into_another_row_does_not_decrypt,
    test_compromised_keys_cannot_be_reactivated,
    test_cursors_at_the_edge_of_time_are_invalid_input,
    test_generate_refuses_bad_names,
    test_generate_writes_its_audit_event_without_the_secret,
    test_grace_period_ends_without_any_job,
    test_key_and_audit_event_commit_together_or_not_at_all,
    test_list_rejects_bad_parameters_with_a_message,
    test_master_key_rotation_reencrypts_everything_and_is_resumable,
    test_outsiders_get_not_found_never_permission_denied,
    test_paging_filtering_search_and_totals,
    test_reactivating_during_grace_cancels_the_revocation,
    test_reveal_returns_the_secret_and_is_audited,
    test_revoke_now_then_reactivate,
    test_rotate_makes_a_successor_and_keeps_the_old_key_for_the_grace_period,
    test_search_just_below_the_surrogates_works,
    test_search_pages_in_name_order_without_loss_or_repeat,
    test_search_refuses_control_characters,
    test_sign_and_verify_through_the_services,
    test_viewer_cannot_change_keys_and_the_refusal_is_audited,
    test_wrong_master_key_fails_opaquely_and_loses_nothing,
)


def test_secrets_never_reach_the_database_in_plaintext(session, world):
    import sqlalchemy as sa

    from meshkeys.services import keys

    key = keys.generate_key(session, actor=world.admin, project_id=world.project_id, name="k")
    keys.reveal_key(session, actor=world.owner, key_id=key.id)
    body = key.secret[len("whsec_") :]
    for table in ("signature_keys", "audit_events", "audit_heads"):
        dump = (
            session.execute(sa.text(f"SELECT row_to_json(t)::text FROM {table} t")).scalars().all()
        )  # noqa: S608
        assert all(body not in row for row in dump), table
