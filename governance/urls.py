from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("approvals/", views.approval_list, name="approval_list"),
    path("approvals/read/", views.notifications_read, name="notifications_read"),
    path("approvals/policy/", views.tier_policy, name="tier_policy"),
    path("promotions/<int:pk>/", views.promotion_detail, name="promotion_detail"),
    path("promotions/<int:pk>/approve/", views.promotion_approve, name="promotion_approve"),
    path("promotions/<int:pk>/reject/", views.promotion_reject, name="promotion_reject"),
    path("promotions/<int:pk>/refresh/", views.promotion_refresh, name="promotion_refresh"),
    path("promotions/<int:pk>/withdraw/", views.promotion_withdraw, name="promotion_withdraw"),
    path("models/<int:pk>/governance/", views.model_governance, name="model_governance"),
    path("models/<int:pk>/card/markdown/", views.model_card_markdown, name="model_card_markdown"),
    path("models/<int:pk>/card/save/", views.model_card_action, {"step": "save"}, name="model_card_save"),
    path(
        "models/<int:pk>/card/submit/", views.model_card_action, {"step": "submit"}, name="model_card_submit"
    ),
    path(
        "models/<int:pk>/card/approve/",
        views.model_card_action,
        {"step": "approve"},
        name="model_card_approve",
    ),
    path("models/<int:pk>/retire/", views.model_retire, name="model_retire"),
    path("projects/<int:pk>/releases/", views.project_releases, name="project_releases"),
]
