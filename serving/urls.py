from django.urls import path

from serving import views

app_name = "serving"

urlpatterns = [
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("endpoints/reviews/<int:pk>/confirm/", views.review_confirm, name="review_confirm"),
    path("endpoints/reviews/<int:pk>/correct/", views.review_correct, name="review_correct"),
    path("endpoints/<slug:slug>/", views.endpoint_detail, name="endpoint_detail"),
    path("endpoints/<slug:slug>/settings/", views.endpoint_settings, name="endpoint_settings"),
    path("endpoints/<slug:slug>/keys/", views.api_key_create, name="api_key_create"),
    path("endpoints/<slug:slug>/reviews/", views.review_queue, name="review_queue"),
    path("endpoints/<slug:slug>/reviews/export/", views.review_export, name="review_export"),
]
