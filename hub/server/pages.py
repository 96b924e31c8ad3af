"""HTML pages for people (being written)."""

from fastapi import APIRouter

router = APIRouter()
