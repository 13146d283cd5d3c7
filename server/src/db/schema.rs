//! Tables as diesel sees them; both migration sets must produce exactly these (a test checks).

diesel::table! {
    areas (id) {
        id -> Text,
        name -> Text,
        level -> Text,
        parent_id -> Nullable<Text>,
        boundary -> Nullable<Text>,
        qr_link -> Nullable<Text>,
        wechat_group -> Nullable<Text>,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        disabled -> Bool,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    role_assignments (id) {
        id -> Text,
        user_id -> Text,
        role -> Text,
        area_id -> Text,
        valid_from_ms -> BigInt,
        valid_to_ms -> Nullable<BigInt>,
        assigned_by -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        user_id -> Text,
        token_hash -> Text,
        device_name -> Nullable<Text>,
        issued_at_ms -> BigInt,
        expires_at_ms -> BigInt,
        rotated_at_ms -> Nullable<BigInt>,
        revoked_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    devices (client_id) {
        client_id -> Text,
        user_id -> Text,
        device_name -> Nullable<Text>,
        last_mid -> BigInt,
        first_seen_ms -> BigInt,
        last_seen_ms -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at_ms -> BigInt,
        actor_id -> Nullable<Text>,
        action -> Text,
        target_kind -> Nullable<Text>,
        target_id -> Nullable<Text>,
        detail -> Nullable<Text>,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    scope_seqs (scope) {
        scope -> Text,
        seq -> BigInt,
    }
}

diesel::table! {
    records (id) {
        id -> Text,
        entity -> Text,
        scope -> Text,
        seq -> BigInt,
        fields -> Text,
        hlcs -> Text,
        delete_hlc -> Nullable<Text>,
        restore_hlc -> Nullable<Text>,
        deleted -> Bool,
        version -> Text,
        parent_id -> Nullable<Text>,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    record_history (id) {
        id -> BigInt,
        record_id -> Text,
        entity -> Text,
        scope -> Text,
        field -> Text,
        value -> Nullable<Text>,
        hlc -> Text,
        won -> Bool,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        mid -> Nullable<BigInt>,
        at_ms -> BigInt,
    }
}

diesel::table! {
    rejected_mutations (id) {
        id -> BigInt,
        client_id -> Text,
        user_id -> Text,
        mid -> BigInt,
        code -> Text,
        message -> Text,
        field -> Nullable<Text>,
        payload -> Text,
        at_ms -> BigInt,
    }
}

diesel::table! {
    id_index (record_id) {
        record_id -> Text,
        entity -> Text,
        scope -> Text,
        id_hash -> Text,
        rental_id -> Nullable<Text>,
        active -> Bool,
    }
}

diesel::table! {
    access_log (id) {
        id -> BigInt,
        at_ms -> BigInt,
        user_id -> Text,
        record_id -> Text,
        entity -> Text,
        fields -> Text,
        purpose -> Text,
    }
}

diesel::table! {
    campaign_versions (version) {
        version -> BigInt,
        config -> Text,
        created_by -> Text,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    blobs (sha256) {
        sha256 -> Text,
        mime -> Text,
        width -> BigInt,
        height -> BigInt,
        display_bytes -> BigInt,
        thumb_bytes -> BigInt,
        gps_lat_e7 -> Nullable<BigInt>,
        gps_lng_e7 -> Nullable<BigInt>,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    fraud_cases (id) {
        id -> BigInt,
        village_id -> Text,
        period -> Text,
        cases -> BigInt,
        victims -> BigInt,
        suspects -> BigInt,
        loss_yuan -> BigInt,
        notes -> Nullable<Text>,
        created_by -> Text,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    model_villages (village_id) {
        village_id -> Text,
        named_by -> Text,
        named_at_ms -> BigInt,
    }
}

diesel::table! {
    import_jobs (id) {
        id -> Text,
        kind -> Text,
        format -> Text,
        state -> Text,
        dry_run -> Bool,
        user_id -> Text,
        processed -> BigInt,
        total -> BigInt,
        errors -> Text,
        result -> Text,
        secrets -> Nullable<Text>,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    blob_refs (sha256, record_id) {
        sha256 -> Text,
        record_id -> Text,
        entity -> Text,
        scope -> Text,
        active -> Bool,
        referred_at_ms -> BigInt,
    }
}

diesel::joinable!(role_assignments -> users (user_id));
diesel::joinable!(role_assignments -> areas (area_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(devices -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    areas,
    users,
    role_assignments,
    refresh_tokens,
    devices,
    audit_log,
    scope_seqs,
    records,
    record_history,
    rejected_mutations,
    id_index,
    access_log,
    campaign_versions,
    fraud_cases,
    model_villages,
    import_jobs,
    blobs,
    blob_refs,
);
