from django.urls import path

from . import views

app_name = "inbox"

urlpatterns = [
    path("", views.conversation_list, name="list"),
    path("rows/", views.conversation_rows, name="rows"),
    path("new/", views.new_message, name="new"),
    path("export.csv", views.export_conversations, name="export"),
    path("c/<str:phone>/", views.thread, name="thread"),
    path("c/<str:phone>/messages/", views.thread_messages, name="messages"),
    path("c/<str:phone>/assign/", views.assign, name="assign"),
    path("c/<str:phone>/replying/", views.replying, name="replying"),
    path("c/<str:phone>/outcome/", views.outcome, name="outcome"),
    path("c/<str:phone>/handled/", views.handled, name="handled"),
    path("c/<str:phone>/name/", views.rename, name="rename"),
]
